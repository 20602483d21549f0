package io.github.djlattention.bench;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDList;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.DataType;
import ai.djl.ndarray.types.Shape;
import ai.djl.nn.Block;
import ai.djl.nn.Parameter;
import ai.djl.nn.core.Linear;
import ai.djl.nn.transformer.ScaledDotProductAttentionBlock;
import ai.djl.training.ParameterStore;
import ai.djl.util.PairList;
import io.github.djlattention.bench.BenchmarkReport.SmallCallResult;
import io.github.djlattention.blocks.MultiHeadAttentionBlock;
import io.github.djlattention.ops.Attention;
import io.github.djlattention.ops.AttentionOptions;
import io.github.djlattention.ops.FewRowLinear;
import java.io.PrintWriter;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;

/**
 * The small-call series of {@code bench}: one forward of the project's {@link
 * MultiHeadAttentionBlock} against DJL's own {@link ScaledDotProductAttentionBlock} on the same
 * input, E = 512, H = 8, projections with biases, self-attention on (1, S, E), S = 1, 16 and 64:
 * the calls where the arithmetic is small and what surrounds the kernels shows.
 *
 * <p>Both blocks hold the same weights (the project's are copied into DJL's four {@link Linear}
 * projections), and their outputs are compared before anything is timed. Each call runs as a DJL
 * {@code Predictor} runs a block: the input is a view in a manager of the call's own, so every
 * intermediate array is freed when the call ends.
 *
 * <p>The project's block is broken down in the same rounds: its four projections alone (the block's
 * own parameters, through {@link FewRowLinear#linear} as the block calls them in inference), the
 * attention call alone ({@link Attention#attention} on the sequence-first (B, S, H, D) views the
 * block passes it), and the rest, the block's time less those two (input checks, reshapes, the
 * heads' merge, scopes).
 */
final class SmallCallBenchmark {

  /** Embedding size and heads of the series. */
  static final int EMBEDDING = 512;

  static final int HEADS = 8;

  /** The query lengths of the series. */
  static final List<Long> LENGTHS = List.of(1L, 16L, 64L);

  private static final String[] PROJECTIONS = {"q_proj", "k_proj", "v_proj", "out_proj"};

  private final boolean quick;
  private final PrintWriter log;

  SmallCallBenchmark(boolean quick, PrintWriter log) {
    this.quick = quick;
    this.log = log;
  }

  /** The series, one row per query length. */
  List<SmallCallResult> run() {
    List<SmallCallResult> rows = new ArrayList<>();
    for (long seq : LENGTHS) {
      rows.add(row(seq));
    }
    return rows;
  }

  /**
   * Both blocks of a row on the same weights, a parameter store and the input.
   *
   * @param ours the project's block
   * @param djl DJL's block, holding copies of the project's weights
   * @param store the parameter store both forwards use
   * @param x the input (1, S, E)
   */
  record Blocks(
      MultiHeadAttentionBlock ours,
      ScaledDotProductAttentionBlock djl,
      ParameterStore store,
      NDArray x) {

    /** The largest |project − DJL| over the output of one forward each. */
    double difference() {
      return BenchData.maxAbsDiff(forward(ours, store, x), forward(djl, store, x));
    }
  }

  /** Sets up the two blocks of a row (E, H of the series) on the same weights, seeded. */
  static Blocks blocks(NDManager manager, long seq) {
    manager.getEngine().setRandomSeed(Math.toIntExact(seq));
    MultiHeadAttentionBlock ours =
        MultiHeadAttentionBlock.builder().setEmbeddingSize(EMBEDDING).setHeads(HEADS).build();
    ScaledDotProductAttentionBlock djl =
        ScaledDotProductAttentionBlock.builder()
            .setEmbeddingSize(EMBEDDING)
            .setHeadCount(HEADS)
            .build();
    Shape inputShape = new Shape(1, seq, EMBEDDING);
    ours.initialize(manager, DataType.FLOAT32, inputShape);
    djl.initialize(manager, DataType.FLOAT32, inputShape);
    copyWeights(ours, djl);
    return new Blocks(
        ours, djl, new ParameterStore(manager, false), manager.randomUniform(-1, 1, inputShape));
  }

  private SmallCallResult row(long seq) {
    try (NDManager manager = NDManager.newBaseManager("PyTorch")) {
      Blocks blocks = blocks(manager, seq);
      MultiHeadAttentionBlock ours = blocks.ours();
      ScaledDotProductAttentionBlock djl = blocks.djl();
      ParameterStore store = blocks.store();
      NDArray x = blocks.x(); // (1, S, E)
      NDArray[] weights = new NDArray[4];
      NDArray[] biases = new NDArray[4];
      for (int p = 0; p < 4; p++) {
        weights[p] = parameter(ours, PROJECTIONS[p] + ".weight");
        biases[p] = parameter(ours, PROJECTIONS[p] + ".bias");
      }
      double diff = blocks.difference();
      if (!(diff <= 1e-4)) {
        throw new IllegalStateException(
            String.format(
                Locale.ROOT,
                "S=%d: the project's block and DJL's ScaledDotProductAttentionBlock differ by"
                    + " %.2e on the same weights",
                seq,
                diff));
      }
      long headSize = EMBEDDING / HEADS;
      AttentionOptions options =
          AttentionOptions.builder().optReturnWeights(false).optSequenceFirst(true).build();
      Runnable project =
          () -> call(manager, x, view -> ours.forward(store, new NDList(view), false));
      Runnable theirs = () -> call(manager, x, view -> djl.forward(store, new NDList(view), false));
      Runnable projections =
          () ->
              call(
                  manager,
                  x,
                  view -> {
                    for (int p = 0; p < 4; p++) {
                      FewRowLinear.linear(view, weights[p], biases[p]); // as the block's
                    }
                    return null;
                  });
      NDArray heads = x.reshape(1, seq, HEADS, headSize); // (1, S, H, D), as the block passes
      Runnable attention =
          () ->
              call(
                  manager,
                  heads,
                  view -> new NDList(Attention.attention(view, view, view, options).output()));
      int rounds = quick ? 15 : 40;
      double[] ms = AttentionBenchmark.medians(rounds, 20, project, theirs, projections, attention);
      double rest = ms[0] - ms[2] - ms[3];
      say(
          "small S=%d (E=%d H=%d, bias): project block %.4f ms, DJL ScaledDotProductAttentionBlock"
              + " %.4f ms, ratio %.2f; the project's block: projections %.4f ms, attention %.4f ms,"
              + " the rest %.4f ms; max |project - DJL| %.2e%n",
          seq, EMBEDDING, HEADS, ms[0], ms[1], ms[0] / ms[1], ms[2], ms[3], rest, diff);
      return new SmallCallResult(
          1, seq, EMBEDDING, HEADS, ms[0], ms[1], ms[0] / ms[1], ms[2], ms[3], rest, diff);
    }
  }

  /** One call on a view of {@code input} in a manager of its own, freed with everything made. */
  private static void call(
      NDManager manager, NDArray input, java.util.function.Function<NDArray, NDList> body) {
    try (NDManager scope = manager.newSubManager()) {
      NDArray view = input.reshape(input.getShape()); // a new handle ...
      view.attach(scope); // ... in the call's manager: the results of its ops go there too
      body.apply(view);
    }
  }

  private static float[] forward(Block block, ParameterStore store, NDArray x) {
    try (NDManager scope = x.getManager().newSubManager()) {
      NDArray view = x.reshape(x.getShape());
      view.attach(scope);
      return block.forward(store, new NDList(view), false).head().toFloatArray();
    }
  }

  /** Sets DJL's four projections to the project's weights and biases. */
  private static void copyWeights(
      MultiHeadAttentionBlock ours, ScaledDotProductAttentionBlock djl) {
    Linear[] theirs = {
      djl.getQueryProjection(),
      djl.getKeyProjection(),
      djl.getValueProjection(),
      djl.getResultProjection()
    };
    for (int p = 0; p < 4; p++) {
      PairList<String, Parameter> parameters = theirs[p].getParameters();
      parameters
          .get("weight")
          .getArray()
          .set(parameter(ours, PROJECTIONS[p] + ".weight").toFloatArray());
      parameters
          .get("bias")
          .getArray()
          .set(parameter(ours, PROJECTIONS[p] + ".bias").toFloatArray());
    }
  }

  private static NDArray parameter(MultiHeadAttentionBlock block, String name) {
    Parameter parameter = block.getParameters().get(name);
    if (parameter == null) {
      throw new IllegalStateException("the block has no parameter " + name);
    }
    return parameter.getArray();
  }

  private void say(String format, Object... args) {
    log.printf(Locale.ROOT, format, args);
    log.flush();
  }
}
