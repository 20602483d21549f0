package io.github.djlattention.bench;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDList;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.index.NDIndex;
import ai.djl.ndarray.types.DataType;
import ai.djl.ndarray.types.Shape;
import ai.djl.nn.Parameter;
import ai.djl.nn.core.Linear;
import ai.djl.training.ParameterStore;
import ai.djl.util.Pair;
import ai.djl.util.PairList;
import io.github.djlattention.bench.BenchmarkReport.GenerationResult;
import io.github.djlattention.blocks.MultiHeadAttentionBlock;
import io.github.djlattention.ops.Attention;
import io.github.djlattention.ops.AttentionOptions;
import io.github.djlattention.ops.HugePages;
import io.github.djlattention.ops.KvCache;
import java.io.PrintWriter;
import java.util.Arrays;
import java.util.List;
import java.util.Locale;
import java.util.Random;

/**
 * The generation loop of the decode series: a whole attention layer generating N tokens one at a
 * time, the project's {@link MultiHeadAttentionBlock} with a {@link KvCache} against the same layer
 * in ONNX Runtime ({@link OrtGenerationLayer}: MatMul projections around {@code
 * com.microsoft.GroupQueryAttention}) with the same weights, reported in tokens per second.
 *
 * <p>The layer is Llama's (by default E = 4096, H = 32, G = 8, D = 128, N = 512): causal, no
 * biases, float32. Step i of a loop feeds the i-th of N fixed inputs (1, 1, E), seeded, the same
 * arrays every loop; the block appends the step's key and value to its cache and attends over the i
 * + 1 positions so far, and ONNX Runtime does the same in its shared past/present buffer. Both copy
 * each step's output (1, 1, E) to the Java heap, as a generation loop reads its logits; the
 * project's step runs in a scope of its own, so nothing outlives it. The caches are emptied before
 * every loop. A loop's time is the wall time of its N steps, and tokens per second are N / loop
 * seconds.
 *
 * <p>Rounds: one warm-up loop per side, then one timed loop per side ({@code --quick}) or three,
 * interleaved (the side that goes first alternates), and the median. Every loop's outputs, warm-up
 * included, are compared step by step: the largest |project − ONNX Runtime| of a step, divided by
 * the step's largest |output|, must stay within {@link #TOLERANCE}, or the series throws. Last, the
 * project's attention alone (the same cached calls on the projections of the same inputs, without
 * the projections) is timed over as many loops, to show which share of a token it takes.
 *
 * <p>Shape legend: N tokens, E embedding, H query heads, G key/value heads, D = E/H head size.
 */
final class GenerationBenchmark {

  /** Llama's layer: embedding, query heads, key/value heads, and the loop's tokens. */
  static final long EMBEDDING = 4096;

  static final int HEADS = 32;
  static final int KV_HEADS = 8;
  static final int TOKENS = 512;

  /** The largest step difference allowed, relative to the step's largest |output|. */
  static final double TOLERANCE = 1e-4;

  private static final long SEED = 14;

  private final long embedding;
  private final int heads;
  private final int kvHeads;
  private final int tokens;
  private final boolean quick;
  private final PrintWriter log;

  /**
   * Creates the series for a layer.
   *
   * @param embedding E
   * @param heads H, a divisor of E
   * @param kvHeads G, a divisor of H
   * @param tokens N, the steps of a loop and the capacity of the caches
   * @param quick one timed loop per side instead of three
   * @param log where progress lines go
   * @throws IllegalArgumentException when the sizes do not make a layer
   */
  GenerationBenchmark(
      long embedding, int heads, int kvHeads, int tokens, boolean quick, PrintWriter log) {
    if (embedding <= 0
        || heads <= 0
        || kvHeads <= 0
        || tokens <= 0
        || embedding % heads != 0
        || heads % kvHeads != 0) {
      throw new IllegalArgumentException(
          String.format(
              Locale.ROOT,
              "a generation layer takes E a multiple of H, H a multiple of G and N > 0, got E=%d"
                  + " H=%d G=%d N=%d",
              embedding,
              heads,
              kvHeads,
              tokens));
    }
    this.embedding = embedding;
    this.heads = heads;
    this.kvHeads = kvHeads;
    this.tokens = tokens;
    this.quick = quick;
    this.log = log;
  }

  /** The series at Llama's size: E = 4096, H = 32, G = 8, D = 128, 512 tokens. */
  static GenerationBenchmark llama(boolean quick, PrintWriter log) {
    return new GenerationBenchmark(EMBEDDING, HEADS, KV_HEADS, TOKENS, quick, log);
  }

  /** The timed loops per side. */
  int timedLoops() {
    return quick ? 1 : 3;
  }

  private long headDim() {
    return embedding / heads;
  }

  /**
   * Runs the series and prints its progress.
   *
   * @param threads ONNX Runtime's intra-op threads
   * @return the tokens per second of both sides
   * @throws IllegalStateException when a step's outputs differ by more than {@link #TOLERANCE}, or
   *     ONNX Runtime fails
   */
  GenerationResult run(int threads) {
    long started = System.nanoTime();
    try (Loops loops = open(threads)) {
      say(
          "generation: E=%d H=%d G=%d D=%d, %d tokens, causal, no bias, float32: the project's"
              + " MultiHeadAttentionBlock with a KvCache against ONNX Runtime's GroupQueryAttention"
              + " layer with the same weights (set up in %.1f s; %d of the block's %d MiB of"
              + " weights moved onto huge pages by HugePages.collapse in %.0f ms)%n",
          embedding,
          heads,
          kvHeads,
          headDim(),
          tokens,
          (System.nanoTime() - started) / 1e9,
          loops.hugePageBytes >> 20,
          loops.weightBytes >> 20,
          loops.collapseMs);
      long warmUp = System.nanoTime();
      float[][] projectWarm = loops.project();
      double projectWarmS = (System.nanoTime() - warmUp) / 1e9;
      warmUp = System.nanoTime();
      float[][] ortWarm = loops.ort();
      double ortWarmS = (System.nanoTime() - warmUp) / 1e9;
      Difference worst = compare(projectWarm, ortWarm);
      say(
          "generation: warm-up loops: project %.2f s, ORT %.2f s; max |project - ORT| %.2e"
              + " (%.2e of max |output|)%n",
          projectWarmS, ortWarmS, worst.maxAbs(), worst.maxRel());
      int rounds = timedLoops();
      double[] projectS = new double[rounds];
      double[] ortS = new double[rounds];
      for (int round = 0; round < rounds; round++) {
        float[][] ours = null;
        float[][] theirs = null;
        for (int turn = 0; turn < 2; turn++) {
          boolean projectTurn = (turn == 0) == (round % 2 == 0);
          long start = System.nanoTime();
          if (projectTurn) {
            ours = loops.project();
            projectS[round] = (System.nanoTime() - start) / 1e9;
          } else {
            theirs = loops.ort();
            ortS[round] = (System.nanoTime() - start) / 1e9;
          }
          double seconds = projectTurn ? projectS[round] : ortS[round];
          say(
              "generation: %s loop %d of %d: %.3f s = %.1f tokens/s%n",
              projectTurn ? "project" : "ORT", round + 1, rounds, seconds, tokens / seconds);
        }
        worst = worst.max(compare(ours, theirs));
      }
      double[] attentionS = new double[rounds];
      for (int round = 0; round < rounds; round++) {
        long start = System.nanoTime();
        loops.attentionAlone();
        attentionS[round] = (System.nanoTime() - start) / 1e9;
      }
      double projectTokensPerS = tokens / median(projectS);
      double ortTokensPerS = tokens / median(ortS);
      double attentionMs = 1e3 * median(attentionS) / tokens;
      say(
          "generation E=%d H=%d G=%d D=%d, %d tokens: project %.1f tokens/s, ORT"
              + " GroupQueryAttention layer %.1f tokens/s, ratio %.2f (project/ORT tokens/s,"
              + " higher is better for the project); the project's attention alone %.3f ms of its"
              + " %.3f ms per token; max |project - ORT| %.2e (%.2e of max |output|), median of %d"
              + " loop%s%n",
          embedding,
          heads,
          kvHeads,
          headDim(),
          tokens,
          projectTokensPerS,
          ortTokensPerS,
          projectTokensPerS / ortTokensPerS,
          attentionMs,
          1e3 / projectTokensPerS,
          worst.maxAbs(),
          worst.maxRel(),
          rounds,
          rounds == 1 ? "" : "s");
      return new GenerationResult(
          heads,
          kvHeads,
          headDim(),
          embedding,
          tokens,
          projectTokensPerS,
          ortTokensPerS,
          projectTokensPerS / ortTokensPerS,
          worst.maxAbs(),
          worst.maxRel(),
          median(projectS),
          median(ortS),
          attentionMs,
          rounds,
          loops.hugePageBytes);
    }
  }

  /**
   * Builds both sides: the block (initialized on a PyTorch manager), its cache, the loop's inputs,
   * and the ONNX Runtime layer holding the block's weights.
   *
   * @param threads ONNX Runtime's intra-op threads
   * @return the loops; close them
   */
  Loops open(int threads) {
    return new Loops(threads);
  }

  /** The largest step difference of a comparison, absolute and relative to max |output|. */
  record Difference(double maxAbs, double maxRel) {
    Difference max(Difference other) {
      return new Difference(Math.max(maxAbs, other.maxAbs), Math.max(maxRel, other.maxRel));
    }
  }

  /**
   * Compares two loops' outputs step by step.
   *
   * @param project the project's outputs, one per step
   * @param ort ONNX Runtime's
   * @return the largest differences
   * @throws IllegalStateException naming the first step whose largest |difference|, divided by its
   *     largest |project output|, exceeds {@link #TOLERANCE} (or is NaN), or whose sizes differ
   */
  static Difference compare(float[][] project, float[][] ort) {
    if (project.length != ort.length) {
      throw new IllegalStateException(
          "the generation loops ran "
              + project.length
              + " project steps and "
              + ort.length
              + " ONNX Runtime steps");
    }
    double worstAbs = 0;
    double worstRel = 0;
    for (int step = 0; step < project.length; step++) {
      float[] ours = project[step];
      float[] theirs = ort[step];
      if (ours.length != theirs.length) {
        throw new IllegalStateException(
            String.format(
                Locale.ROOT,
                "generation step %d: the project's output has %d values, ONNX Runtime's %d",
                step,
                ours.length,
                theirs.length));
      }
      double diff = 0;
      double largest = 0;
      for (int n = 0; n < ours.length; n++) {
        diff = Math.max(diff, Math.abs((double) ours[n] - theirs[n]));
        largest = Math.max(largest, Math.abs((double) ours[n]));
      }
      double relative = diff == 0 ? 0 : diff / largest;
      if (!(relative <= TOLERANCE)) {
        throw new IllegalStateException(
            String.format(
                Locale.ROOT,
                "generation step %d of %d: the project's output differs from ONNX Runtime's by"
                    + " %.3e, %.3e of its max |output| %.3e (allowed: %.0e)",
                step,
                project.length,
                diff,
                relative,
                largest,
                TOLERANCE));
      }
      worstAbs = Math.max(worstAbs, diff);
      worstRel = Math.max(worstRel, relative);
    }
    return new Difference(worstAbs, worstRel);
  }

  private static double median(double[] values) {
    double[] sorted = values.clone();
    Arrays.sort(sorted);
    return sorted[sorted.length / 2];
  }

  private void say(String format, Object... args) {
    log.printf(Locale.ROOT, format, args);
    log.flush();
  }

  /** Both sides of the loop, set up once: each call runs one whole loop of N steps. */
  final class Loops implements AutoCloseable {

    private final NDManager manager;
    private final MultiHeadAttentionBlock block;
    private final ParameterStore store;
    private final KvCache cache;
    private final PairList<String, Object> params;
    private final float[][] tokenData;
    private final NDArray[] inputs;
    private final OrtGenerationLayer ortLayer;
    private final long weightBytes;
    private final long hugePageBytes;
    private final double collapseMs;
    private NDArray[][] projected;

    private Loops(int threads) {
      manager = NDManager.newBaseManager("PyTorch");
      try {
        block =
            MultiHeadAttentionBlock.builder()
                .setEmbeddingSize(embedding)
                .setHeads(heads)
                .optKvHeads(kvHeads)
                .optCausal(true)
                .optBias(false)
                .build();
        block.initialize(manager, DataType.FLOAT32, new Shape(1, 1, embedding));
        // the weights a token reads whole, onto huge pages (what an inference application of the
        // project would do; -Ddjl.attention.hugepages=false leaves them on 4 KiB pages)
        long bytes = 0;
        long moved = 0;
        long collapseStart = System.nanoTime();
        for (Pair<String, Parameter> parameter : block.getParameters()) {
          NDArray array = parameter.getValue().getArray();
          bytes += array.getShape().size() * array.getDataType().getNumOfBytes();
          moved += HugePages.collapse(array);
        }
        collapseMs = (System.nanoTime() - collapseStart) / 1e6;
        weightBytes = bytes;
        hugePageBytes = moved;
        store = new ParameterStore(manager, false);
        cache =
            KvCache.builder()
                .setManager(manager)
                .setLayers(1)
                .setBatchSize(1)
                .setKvHeads(kvHeads)
                .setHeadSize(headDim())
                .setCapacity(tokens)
                .build();
        params = new PairList<>(List.of(MultiHeadAttentionBlock.KV_CACHE), List.of(cache.layer(0)));
        Random random = new Random(SEED);
        tokenData = new float[tokens][];
        inputs = new NDArray[tokens];
        for (int i = 0; i < tokens; i++) {
          tokenData[i] = new float[Math.toIntExact(embedding)];
          for (int n = 0; n < tokenData[i].length; n++) {
            tokenData[i][n] = random.nextFloat() * 2 - 1;
          }
          inputs[i] = manager.create(tokenData[i], new Shape(1, 1, embedding)); // (1, 1, E)
        }
        ortLayer =
            new OrtGenerationLayer(
                embedding,
                heads,
                kvHeads,
                weight("q_proj.weight"),
                weight("k_proj.weight"),
                weight("v_proj.weight"),
                weight("out_proj.weight"),
                tokenData,
                threads);
      } catch (RuntimeException e) {
        manager.close();
        throw e;
      }
    }

    /** A weight of the block, (out, in) in C order. */
    private float[] weight(String name) {
      return block.getParameters().get(name).getArray().toFloatArray();
    }

    /**
     * One loop of the project: the cache emptied, then N calls of the block, each in a scope of its
     * own.
     *
     * @return each step's output (1, 1, E), in C order
     */
    float[][] project() {
      cache.reset();
      float[][] outputs = new float[tokens][];
      for (int i = 0; i < tokens; i++) {
        try (NDManager scope = manager.newSubManager()) {
          // the step's input joins the scope for the call, so every array the call makes ends
          // with it; the input goes back to the loop's manager when the scope closes
          scope.tempAttachAll(inputs[i]);
          NDArray y = block.forward(store, new NDList(inputs[i]), false, params).singletonOrThrow();
          outputs[i] = y.toFloatArray(); // (1, 1, E)
        }
      }
      return outputs;
    }

    /**
     * One loop of ONNX Runtime (its shared buffer needs no emptying: step 0 starts a sequence).
     *
     * @return each step's output (1, 1, E), in C order
     */
    float[][] ort() {
      float[][] outputs = new float[tokens][];
      for (int i = 0; i < tokens; i++) {
        outputs[i] = ortLayer.step(i);
      }
      return outputs;
    }

    /**
     * One loop of the project's attention alone: the cached calls the block makes, on query, key
     * and value projected once beforehand from the same inputs (made on the first call, untimed
     * when the caller times a later one).
     */
    void attentionAlone() {
      NDArray[][] qkv = projections();
      AttentionOptions options =
          AttentionOptions.builder()
              .optCache(cache.layer(0))
              .optCausal(true)
              .optReturnWeights(false)
              .optSequenceFirst(true) // as the block passes its heads
              .build();
      cache.reset();
      for (int i = 0; i < tokens; i++) {
        try (NDManager scope = manager.newSubManager()) {
          Attention.attention(qkv[0][i], qkv[1][i], qkv[2][i], options).output().attach(scope);
        }
      }
    }

    private NDArray[][] projections() {
      if (projected != null) {
        return projected;
      }
      NDManager held = manager.newSubManager(); // closed with the loop's manager
      NDArray x = held.create(flatTokens(), new Shape(1, tokens, embedding)); // (1, N, E)
      String[] names = {"q_proj.weight", "k_proj.weight", "v_proj.weight"};
      int[] headCounts = {heads, kvHeads, kvHeads};
      NDArray[][] qkv = new NDArray[3][tokens];
      for (int p = 0; p < 3; p++) {
        NDArray w = block.getParameters().get(names[p]).getArray();
        NDArray all = Linear.linear(x, w).singletonOrThrow(); // (1, N, heads·D)
        for (int i = 0; i < tokens; i++) {
          qkv[p][i] =
              all.get(new NDIndex(":, {}:{}", i, i + 1)) // (1, 1, heads·D)
                  .reshape(1, 1, headCounts[p], headDim()); // (1, 1, heads, D), as the block
        }
      }
      projected = qkv;
      return qkv;
    }

    /**
     * The control: one causal forward of the block over the N inputs at once, without a cache.
     *
     * @return row i (1, E) of the output (1, N, E), which is what step i of a loop computes
     */
    float[][] wholeSequence() {
      try (NDManager scope = manager.newSubManager()) {
        NDArray x = scope.create(flatTokens(), new Shape(1, tokens, embedding)); // (1, N, E)
        float[] y = block.forward(store, new NDList(x), false).singletonOrThrow().toFloatArray();
        float[][] rows = new float[tokens][];
        for (int i = 0; i < tokens; i++) {
          int from = Math.toIntExact(i * embedding);
          rows[i] = Arrays.copyOfRange(y, from, Math.toIntExact(from + embedding));
        }
        return rows;
      }
    }

    /** The N inputs one after the other: (1, N, E) in C order. */
    private float[] flatTokens() {
      float[] flat = new float[Math.toIntExact(tokens * embedding)];
      for (int i = 0; i < tokens; i++) {
        System.arraycopy(
            tokenData[i], 0, flat, Math.toIntExact(i * embedding), tokenData[i].length);
      }
      return flat;
    }

    /** The arrays the loop's manager holds, its sub-managers' included. */
    int managedArrays() {
      return manager.getManagedArrays().size();
    }

    /** Frees both sides. */
    @Override
    public void close() {
      try {
        ortLayer.close();
      } finally {
        manager.close();
      }
    }
  }
}
