package io.github.djlattention.cli;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.DataType;
import io.github.djlattention.io.AtomicWrite;
import io.github.djlattention.io.Npy;
import io.github.djlattention.io.Npz;
import io.github.djlattention.ops.Attention;
import io.github.djlattention.ops.AttentionOptions;
import io.github.djlattention.ops.AttentionResult;
import java.nio.file.Path;
import java.util.LinkedHashMap;
import java.util.Map;
import java.util.concurrent.Callable;
import picocli.CommandLine.Command;
import picocli.CommandLine.Model.CommandSpec;
import picocli.CommandLine.Option;
import picocli.CommandLine.ParameterException;
import picocli.CommandLine.Spec;

/**
 * {@code djl-attention compute}: attention on {@code .npy} arrays, written to an {@code .npz}.
 *
 * <p>Shape legend: B batch, H query heads, G key/value heads (H a multiple of G), S query length, T
 * key/value length, D query/key head size, Dv value head size. Query, key and value share one rank
 * and one floating-point dtype: (S, D), (B, S, D) or (B, H, S, D). The archive holds {@code output}
 * (…, S, Dv) and {@code weights} (…, S, T) in the inputs' dtype. It is written through a temporary
 * file, so a failed run leaves an existing {@code --out} as it was.
 */
@Command(
    name = "compute",
    description = {
      "Computes attention on .npy arrays into an .npz of output and weights.",
      "q, k, v share a rank: (S, D), (B, S, D) or (B, H, S, D); k and v may have",
      "fewer heads than q (grouped-query attention) if their count divides q's.",
      "The .npz holds 'output' (..., S, Dv) and 'weights' (..., S, T)."
    })
final class ComputeCommand implements Callable<Integer> {

  @Spec private CommandSpec spec;

  @Option(
      names = "--q",
      required = true,
      paramLabel = "<q.npy>",
      description = "Query: (S, D), (B, S, D) or (B, H, S, D), float16/32/64.")
  private Path query;

  @Option(
      names = "--k",
      required = true,
      paramLabel = "<k.npy>",
      description = "Key: (T, D), (B, T, D) or (B, G, T, D), the query's dtype.")
  private Path key;

  @Option(
      names = "--v",
      required = true,
      paramLabel = "<v.npy>",
      description = "Value: (T, Dv), (B, T, Dv) or (B, G, T, Dv), the query's dtype.")
  private Path value;

  @Option(
      names = "--mask",
      paramLabel = "<mask.npy>",
      description =
          "Mask that broadcasts to the weights: bool (true = attend) or float (added to the"
              + " scores).")
  private Path mask;

  @Option(names = "--causal", description = "Query i attends only to keys j <= i.")
  private boolean causal;

  @Option(
      names = "--out",
      required = true,
      paramLabel = "<out.npz>",
      description = "The .npz to write (replaced if it exists, untouched if the command fails).")
  private Path out;

  private Double scale;
  private Double softcap;

  @Option(
      names = "--scale",
      paramLabel = "<F>",
      description = "Multiply the scores by F, finite and > 0 (default 1/sqrt(D)).")
  void setScale(double scale) {
    if (!(scale > 0 && Double.isFinite(scale))) {
      throw new ParameterException(
          spec.commandLine(), "--scale must be finite and > 0, got " + scale);
    }
    this.scale = scale;
  }

  @Option(
      names = "--softcap",
      paramLabel = "<F>",
      description = "Soft-cap the scaled scores to F*tanh(scores/F); F finite, >= 0 (0 = none).")
  void setSoftcap(double softcap) {
    if (!(softcap >= 0 && Double.isFinite(softcap))) {
      throw new ParameterException(
          spec.commandLine(), "--softcap must be finite and >= 0 (0 = none), got " + softcap);
    }
    this.softcap = softcap;
  }

  @Override
  public Integer call() {
    AtomicWrite.requireReplaceable(out);
    Map<String, Path> inputs = new LinkedHashMap<>();
    inputs.put("--q", query);
    inputs.put("--k", key);
    inputs.put("--v", value);
    inputs.put("--mask", mask);
    AtomicWrite.requireNotAnInput("--out", out, inputs);
    try (NDManager manager = NDManager.newBaseManager("PyTorch")) {
      NDArray q = readFloating(manager, "--q", query);
      NDArray k = readFloating(manager, "--k", key);
      NDArray v = readFloating(manager, "--v", value);
      AttentionOptions.Builder options =
          AttentionOptions.builder().optCausal(causal).optReturnWeights(true);
      if (mask != null) {
        options.optMask(readMask(manager, mask));
      }
      if (scale != null) {
        options.optScale(scale);
      }
      if (softcap != null) {
        options.optSoftcap(softcap);
      }
      AttentionResult result = Attention.attention(q, k, v, options.build());

      Map<String, NDArray> arrays = new LinkedHashMap<>();
      arrays.put("output", result.output()); // (…, S, Dv)
      arrays.put("weights", result.weights()); // (…, S, T)
      Npz.write(out, arrays);

      spec.commandLine()
          .getOut()
          .printf(
              "wrote %s: output %s, weights %s, %s (q %s, k %s, v %s%s)%n",
              out,
              result.output().getShape(),
              result.weights().getShape(),
              result.output().getDataType(),
              q.getShape(),
              k.getShape(),
              v.getShape(),
              settings());
      if (Main.verbose(spec)) {
        long headSize = q.getShape().get(q.getShape().dimension() - 1);
        spec.commandLine()
            .getOut()
            .printf(
                "engine %s %s on %s; scale used %s; output and weights in %s%n",
                manager.getEngine().getEngineName(),
                manager.getEngine().getVersion(),
                manager.getDevice(),
                scale != null ? scale : 1.0 / Math.sqrt(headSize),
                out.toAbsolutePath());
      }
    }
    return ExitCodes.OK;
  }

  private String settings() {
    StringBuilder text = new StringBuilder();
    text.append(scale != null ? "; scale " + scale : "; scale 1/sqrt(D)");
    if (softcap != null && softcap != 0) {
      text.append("; softcap ").append(softcap);
    }
    if (mask != null) {
      text.append("; mask ").append(mask);
    }
    if (causal) {
      text.append("; causal");
    }
    return text.toString();
  }

  private static NDArray readFloating(NDManager manager, String option, Path file) {
    NDArray array = Npy.read(manager, file);
    if (!array.getDataType().isFloating()) {
      throw new IllegalArgumentException(
          option
              + " "
              + file
              + ": dtype "
              + array.getDataType()
              + ", but attention needs float16, float32 or float64");
    }
    return array;
  }

  private static NDArray readMask(NDManager manager, Path file) {
    NDArray array = Npy.read(manager, file);
    if (array.getDataType() != DataType.BOOLEAN && !array.getDataType().isFloating()) {
      throw new IllegalArgumentException(
          "--mask "
              + file
              + ": dtype "
              + array.getDataType()
              + ", but a mask must be bool or float16/32/64");
    }
    return array;
  }
}
