package io.github.djlattention.cli;

import ai.djl.engine.Engine;
import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.DataType;
import ai.djl.ndarray.types.Shape;
import ai.djl.nn.AbstractBlock;
import io.github.djlattention.blocks.AttentionWeights;
import io.github.djlattention.blocks.BlockLayout;
import io.github.djlattention.blocks.MultiHeadAttentionBlock;
import io.github.djlattention.blocks.StateDicts;
import io.github.djlattention.io.AtomicWrite;
import io.github.djlattention.io.InputLimits;
import io.github.djlattention.io.Npz;
import io.github.djlattention.onnx.ExportOptions;
import io.github.djlattention.onnx.OnnxExporter;
import java.nio.file.Path;
import java.util.Collections;
import java.util.LinkedHashMap;
import java.util.Map;
import java.util.concurrent.Callable;
import picocli.CommandLine.Command;
import picocli.CommandLine.Model.CommandSpec;
import picocli.CommandLine.Option;
import picocli.CommandLine.Spec;

/**
 * {@code djl-attention export}: writes an attention block as an ONNX model.
 *
 * <p>Without {@code --weights} it builds a {@link MultiHeadAttentionBlock} of {@code --embed} E and
 * {@code --heads} H with freshly initialized parameters (Xavier weights, zero biases; {@code
 * --seed} makes them reproducible). With {@code --weights} it loads a PyTorch state dict through
 * {@link StateDicts}: the sizes come from the file, and {@code --embed}, {@code --heads}, {@code
 * --kv-heads} and {@code --bias}, when given, must agree with it. The model is written through a
 * temporary file, so a failed run leaves an existing {@code --out} as it was.
 */
@Command(
    name = "export",
    description = {
      "Exports an attention block to ONNX: opset 17 (decomposed graph) or 23 (the ONNX",
      "Attention operator). Inputs query, key, value (or x for the seed's single-head module),",
      "optional attn_mask; outputs 'output' and the head-averaged 'weights'."
    })
final class ExportCommand implements Callable<Integer> {

  @Spec private CommandSpec spec;

  @Option(names = "--embed", paramLabel = "<E>", description = "Embedding size E.")
  private Integer embed;

  @Option(names = "--heads", paramLabel = "<H>", description = "Number of query heads H.")
  private Integer heads;

  @Option(
      names = "--kv-heads",
      paramLabel = "<G>",
      description = "Number of key/value heads G, dividing H (default H).")
  private Integer kvHeads;

  @Option(names = "--bias", description = "The projections carry biases.")
  private boolean bias;

  @Option(names = "--causal", description = "Query i attends only to keys j <= i.")
  private boolean causal;

  @Option(
      names = "--weights",
      paramLabel = "<state_dict.npz>",
      description =
          "PyTorch state dict: nn.MultiheadAttention's names, this library's block names, or"
              + " the seed module's W_q.weight, ...")
  private Path weights;

  @Option(
      names = "--opset",
      paramLabel = "<17|23>",
      defaultValue = "17",
      description = "17: decomposed graph (default); 23: the ONNX Attention operator.")
  private int opset;

  @Option(
      names = "--mask",
      paramLabel = "<none|bool|float>",
      defaultValue = "none",
      description = "Add an attn_mask input: bool (true = attend) or float (added to the scores).")
  private String mask;

  @Option(
      names = "--mask-rank",
      paramLabel = "<2|3|4>",
      defaultValue = "2",
      description = "attn_mask rank: 2 (S, T), 3 (B, S, T) or 4 (B, H, S, T); default 2.")
  private int maskRank;

  @Option(
      names = "--head-weights",
      description = "Also output the per-head weights (B, H, S, T) as 'head_weights'.")
  private boolean headWeights;

  @Option(
      names = "--seed",
      paramLabel = "<N>",
      description = "Random seed for the initial weights (without --weights).")
  private Integer seed;

  @Option(
      names = "--out",
      required = true,
      paramLabel = "<model.onnx>",
      description = "The .onnx file to write (replaced if it exists, untouched on failure).")
  private Path out;

  @Override
  public Integer call() {
    AtomicWrite.requireReplaceable(out);
    AtomicWrite.requireNotAnInput("--out", out, Collections.singletonMap("--weights", weights));
    ExportOptions options =
        ExportOptions.builder()
            .optOpset(opset)
            .optMask(ExportOptions.MaskType.parse(mask), maskRank)
            .optHeadWeights(headWeights)
            .build();
    try (NDManager manager = NDManager.newBaseManager("PyTorch")) {
      AbstractBlock block = weights != null ? fromWeights(manager) : fresh(manager);
      OnnxExporter.writeTo(block, options, out);
      spec.commandLine().getOut().printf("wrote %s: %s, %s%n", out, block, options);
    }
    return ExitCodes.OK;
  }

  private AbstractBlock fromWeights(NDManager manager) {
    Map<String, NDArray> stateDict = Npz.read(manager, weights);
    Map<String, Shape> shapes = new LinkedHashMap<>();
    stateDict.forEach((name, array) -> shapes.put(name, array.getShape()));
    BlockLayout layout = StateDicts.inspect(shapes, heads == null ? 0 : heads);
    agree("--embed", embed, layout.embeddingSize());
    agree("--kv-heads", kvHeads, layout.kvHeads());
    if (bias && !layout.bias()) {
      throw new IllegalArgumentException("--bias was given, but " + weights + " has no biases");
    }
    return StateDicts.load(
        manager, stateDict, heads == null ? 0 : heads, causal, AttentionWeights.AVERAGED);
  }

  private void agree(String option, Integer given, long actual) {
    if (given != null && given != actual) {
      throw new IllegalArgumentException(
          option + " " + given + " disagrees with " + weights + ", which gives " + actual);
    }
  }

  private AbstractBlock fresh(NDManager manager) {
    if (embed == null || heads == null) {
      throw new IllegalArgumentException(
          "without --weights, --embed and --heads are required"
              + (embed == null ? " (--embed is missing)" : " (--heads is missing)"));
    }
    MultiHeadAttentionBlock block =
        MultiHeadAttentionBlock.builder()
            .setEmbeddingSize(embed)
            .setHeads(heads)
            .optKvHeads(kvHeads == null ? 0 : kvHeads)
            .optBias(bias)
            .optCausal(causal)
            .optAttentionWeights(AttentionWeights.AVERAGED)
            .build();
    if (seed != null) {
      Engine.getEngine("PyTorch").setRandomSeed(seed);
    }
    // The projections hold embed x embed parameters each: refuse what cannot be allocated.
    InputLimits.product(
        InputLimits.Limit.TENSOR_ELEMENTS, "--embed " + embed + ": embed x embed", embed, embed);
    Shape shape = new Shape(1, 1, embed);
    block.initialize(manager, DataType.FLOAT32, shape, shape, shape);
    return block;
  }
}
