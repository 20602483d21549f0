package io.github.djlattention.bench;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.Shape;
import io.github.djlattention.bench.BenchmarkReport.LlmPrefillResult;
import io.github.djlattention.ops.Attention;
import io.github.djlattention.ops.AttentionOptions;
import java.io.PrintWriter;
import java.util.Locale;
import java.util.Random;

/**
 * The LLM prefill series of {@code bench}: one causal prompt of S = T = 2048 tokens at H = 32, G =
 * 8, D = 128 (a 7–8B model's attention layer), float32, the project's fast path against ONNX
 * Runtime's {@code com.microsoft.GroupQueryAttention} (its LLM kernel, causal-only on the CPU in
 * 1.26; {@link OrtGroupQueryPrefill}) and the standard {@code Attention} with {@code is_causal}
 * (opset 23). {@code MultiHeadAttention} takes no grouped-query heads: it does not apply. Outputs
 * are compared before timing.
 */
final class LlmPrefillBenchmark {

  static final long HEADS = 32;
  static final long KV_HEADS = 8;
  static final long TOKENS = 2048;
  static final long HEAD_DIM = 128;

  private final boolean quick;
  private final PrintWriter log;

  LlmPrefillBenchmark(boolean quick, PrintWriter log) {
    this.quick = quick;
    this.log = log;
  }

  LlmPrefillResult run(int threads) {
    Random random = new Random(TOKENS);
    float[] query = BenchData.uniform(random, HEADS * TOKENS * HEAD_DIM); // (1, H, S, D)
    float[] key = BenchData.uniform(random, KV_HEADS * TOKENS * HEAD_DIM); // (1, G, S, D)
    float[] value = BenchData.uniform(random, KV_HEADS * TOKENS * HEAD_DIM);
    long[] queryShape = {1, HEADS, TOKENS, HEAD_DIM};
    long[] kvShape = {1, KV_HEADS, TOKENS, HEAD_DIM};
    try (NDManager manager = NDManager.newBaseManager("PyTorch");
        OrtGroupQueryPrefill gqa =
            new OrtGroupQueryPrefill(
                HEADS,
                KV_HEADS,
                TOKENS,
                HEAD_DIM,
                tokensFirst(query, HEADS),
                tokensFirst(key, KV_HEADS),
                tokensFirst(value, KV_HEADS),
                threads);
        OrtFusedAttention standard =
            new OrtFusedAttention(queryShape, kvShape, true, query, key, value, threads)) {
      NDArray q = manager.create(query, new Shape(queryShape));
      NDArray k = manager.create(key, new Shape(kvShape));
      NDArray v = manager.create(value, new Shape(kvShape));
      AttentionOptions causal =
          AttentionOptions.builder().optCausal(true).optReturnWeights(false).build();
      float[] ours = Attention.attention(q, k, v, causal).output().toFloatArray();
      double gqaDiff = BenchData.maxAbsDiff(tokensFirst(ours, HEADS), gqa.run());
      double standardDiff = BenchData.maxAbsDiff(ours, standard.run());
      if (!(gqaDiff <= 1e-4) || !(standardDiff <= 1e-4)) {
        throw new IllegalStateException(
            String.format(
                Locale.ROOT,
                "LLM prefill: the project differs from GroupQueryAttention by %.2e and from"
                    + " Attention-23 by %.2e",
                gqaDiff,
                standardDiff));
      }
      Runnable project =
          () -> {
            try (NDManager scope = manager.newSubManager()) {
              Attention.attention(q, k, v, causal).output().attach(scope);
            }
          };
      double[] ms =
          AttentionBenchmark.medians(
              quick ? 3 : 7, 1, project, gqa::runDiscardingOutput, standard::runDiscardingOutput);
      StrongestOrt strongest = StrongestOrt.of("GroupQueryAttention", ms[1], "Attention-23", ms[2]);
      log.printf(
          Locale.ROOT,
          "LLM prefill (causal, B1 H%d G%d S=T=%d D%d): project %.3f ms, GQA %.3f ms,"
              + " Attention-23 %.3f ms, strongest %s: ratio %.2f; max |project - GQA| %.2e%n",
          HEADS,
          KV_HEADS,
          TOKENS,
          HEAD_DIM,
          ms[0],
          ms[1],
          ms[2],
          strongest.name(),
          strongest.ratio(ms[0]),
          gqaDiff);
      log.flush();
      return new LlmPrefillResult(
          HEADS,
          KV_HEADS,
          TOKENS,
          HEAD_DIM,
          ms[0],
          ms[1],
          ms[2],
          strongest.name(),
          strongest.ms(),
          strongest.ratio(ms[0]),
          Math.max(gqaDiff, standardDiff));
    }
  }

  /** (1, heads, S, D) data as (1, S, heads·D): the token-major layout of GQA's inputs. */
  static float[] tokensFirst(float[] headsFirst, long heads) {
    return tokensFirst(headsFirst, heads, HEAD_DIM);
  }

  /** As {@link #tokensFirst(float[], long)} for a head size {@code dim}. */
  static float[] tokensFirst(float[] headsFirst, long heads, long dim) {
    float[] out = new float[headsFirst.length];
    int d = (int) dim;
    int s = (int) (headsFirst.length / heads / d);
    for (int h = 0; h < heads; h++) {
      for (int t = 0; t < s; t++) {
        System.arraycopy(headsFirst, (h * s + t) * d, out, (int) ((t * heads + h) * d), d);
      }
    }
    return out;
  }
}
