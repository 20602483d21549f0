package io.github.djlattention.cli;

import io.github.djlattention.bench.AttentionBenchmark;
import io.github.djlattention.bench.AttentionBenchmark.Series;
import io.github.djlattention.bench.BenchmarkReport;
import io.github.djlattention.bench.TrainingBenchmark;
import io.github.djlattention.io.AtomicWrite;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.concurrent.Callable;
import picocli.CommandLine.Command;
import picocli.CommandLine.Model.CommandSpec;
import picocli.CommandLine.Option;
import picocli.CommandLine.ParameterException;
import picocli.CommandLine.Spec;

/**
 * {@code djl-attention bench}: the project's attention against ONNX Runtime's fused {@code
 * Attention} operator, side by side in this process, and the decode series with its generation loop
 * (tokens per second beside ONNX Runtime's); see {@link AttentionBenchmark}.
 *
 * <p>Prints progress lines and a Markdown table; {@code --json} also writes the measurements,
 * through a temporary file, so a failed run leaves an existing file as it was.
 */
@Command(
    name = "bench",
    description = {
      "Times the project's attention against ONNX Runtime's fused Attention.",
      "Opset 23 and com.microsoft.MultiHeadAttention, float32, B=1 H=8 D=64,",
      "S=128..4096, naming the stronger, beside the float32 matmul ceiling of",
      "the same run; then the bfloat16 mode against float64, S=16384 in a child",
      "JVM for its peak RSS, block calls against DJL's own attention block",
      "(--small alone), and the decode series (--decode alone), which ends",
      "with a 512-token generation loop: the tokens per second of one",
      "MultiHeadAttentionBlock (E=4096 H=32 G=8 D=128, KV cache) beside those of",
      "ONNX Runtime's GroupQueryAttention layer with the same weights.",
      "--dispatch times each kernel per shape class beside the dispatcher's pick."
    })
final class BenchCommand implements Callable<Integer> {

  @Spec private CommandSpec spec;

  @Option(
      names = "--quick",
      description = "Fewer rounds: about a minute on a quiet 2-core machine, under 3 minutes.")
  private boolean quick;

  @Option(
      names = "--training",
      description = {
        "Instead: one training step (forward + backward) of the project's",
        "MultiHeadAttentionBlock against DJL's ScaledDotProductAttentionBlock,",
        "E=512 H=8, S=128, 512, 2048, with each series' peak memory (child JVMs)."
      })
  private boolean training;

  @Option(
      names = "--decode",
      description = {
        "Only the decode series: one query against a KV",
        "cache of T = 1024, 4096, 16384 (H=32 G=8 D=128)",
        "against ONNX Runtime's GroupQueryAttention and",
        "Attention-23, with the read bandwidth at each",
        "working-set size; then the generation loop: 512",
        "tokens through one MultiHeadAttentionBlock (E=4096,",
        "causal, no bias) with a KvCache against the same",
        "layer in ONNX Runtime (MatMul + GroupQueryAttention),",
        "in tokens per second, every step's output compared."
      })
  private boolean decode;

  @Option(
      names = "--small",
      description = {
        "Only the small-call series: a MultiHeadAttentionBlock forward against DJL's",
        "ScaledDotProductAttentionBlock (same weights), E=512 H=8 with biases, S = 1, 16, 64,",
        "with the project's block broken down into projections, attention and the rest."
      })
  private boolean small;

  @Option(
      names = "--dispatch",
      description = {
        "Only the dispatch series: each float32 kernel of the fast path (DECODE, NATIVE,",
        "their AVX2 variants on CPUs with AVX-512, TORCHSCRIPT) pinned and timed per",
        "shape class (small, prefill, few queries, decode, causal prefill) beside the",
        "kernel the dispatcher picks."
      })
  private boolean dispatch;

  @Option(
      names = "--bfloat16",
      description = {
        "Instead: the bfloat16 series alone (S=4096): float32 against the",
        "native AMX and AVX512_BF16 kernels (each where the CPU has it) and",
        "libtorch's bfloat16 path, each with its error against float64."
      })
  private boolean bfloat16;

  @Option(
      names = "--json",
      paramLabel = "<file.json>",
      description = "Also write the results as JSON (replaced if it exists).")
  private Path json;

  @Override
  public Integer call() {
    int alone = (small ? 1 : 0) + (dispatch ? 1 : 0) + (decode ? 1 : 0);
    if (alone > 1 || (alone == 1 && (training || bfloat16))) {
      throw new ParameterException(
          spec.commandLine(),
          "--small, --dispatch, --decode, --training and --bfloat16 are series of their own: pick"
              + " one");
    }
    if (training && bfloat16) {
      throw new ParameterException(
          spec.commandLine(), "--training and --bfloat16 are separate series: pick one");
    }
    if (bfloat16) {
      if (decode) {
        throw new ParameterException(
            spec.commandLine(), "--bfloat16 and --decode are separate series: pick one");
      }
      if (json != null) {
        throw new ParameterException(spec.commandLine(), "--bfloat16 writes no --json");
      }
      new AttentionBenchmark(quick, Series.ALL, spec.commandLine().getOut()).runBfloat16();
      return ExitCodes.OK;
    }
    if (training) {
      if (json != null) {
        throw new ParameterException(spec.commandLine(), "--training writes no --json");
      }
      if (decode) {
        throw new ParameterException(
            spec.commandLine(), "--training and --decode exclude each other");
      }
      new TrainingBenchmark(quick, spec.commandLine().getOut()).run();
      return ExitCodes.OK;
    }
    if (json != null) {
      AtomicWrite.requireReplaceable(json);
      Path parent = json.toAbsolutePath().getParent();
      if (parent == null || !Files.isDirectory(parent)) {
        throw new ParameterException(
            spec.commandLine(), "--json " + json + ": the directory " + parent + " does not exist");
      }
    }
    BenchmarkReport report =
        new AttentionBenchmark(
                quick,
                small
                    ? Series.SMALL
                    : dispatch ? Series.DISPATCH : decode ? Series.DECODE : Series.ALL,
                spec.commandLine().getOut())
            .run();
    if (json != null) {
      report.writeJson(json);
      spec.commandLine().getOut().println("wrote " + json);
    }
    return ExitCodes.OK;
  }
}
