package io.github.djlattention.bench;

import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.PropertyNamingStrategies;
import com.fasterxml.jackson.databind.SerializationFeature;
import io.github.djlattention.io.AtomicWrite;
import java.io.UncheckedIOException;
import java.nio.file.Path;
import java.util.List;

/**
 * What {@link AttentionBenchmark} measured; written as JSON with snake_case names.
 *
 * @param results one row per prefill shape: the project against ONNX Runtime (empty with {@code
 *     --decode})
 * @param ceilingGflops the float32 matmul rate of libtorch through DJL in the same run (0 with
 *     {@code --decode})
 * @param bfloat16 the opt-in bfloat16 mode against float32 and float64 (null with {@code --decode})
 * @param longSequence the long-sequence memory probe (child JVM; null with {@code --decode})
 * @param environment where it ran
 * @param decode the decode series: one query against a KV cache, against ONNX Runtime
 * @param ceilings the matmul ceiling and the read-bandwidth ceilings at the decode sizes
 * @param generation the generation loop of the decode series: tokens per second of a whole
 *     attention layer, the project's against ONNX Runtime's (null without the decode series)
 * @param smallCalls the small-call series: block forwards at S = 1, 16, 64 against DJL's block
 *     (empty with {@code --decode})
 * @param dispatch the dispatch series: each kernel timed per shape class beside the dispatcher's
 *     pick (only with {@code --dispatch}; empty otherwise)
 * @param llmPrefill the causal LLM prefill (S = 2048, H32 G8 D128) against GroupQueryAttention and
 *     Attention-23 (null with {@code --decode}, {@code --small}, {@code --dispatch})
 */
public record BenchmarkReport(
    List<ShapeResult> results,
    double ceilingGflops,
    Bfloat16Result bfloat16,
    LongSequenceResult longSequence,
    Environment environment,
    List<DecodeResult> decode,
    Ceilings ceilings,
    GenerationResult generation,
    List<SmallCallResult> smallCalls,
    List<DispatchResult> dispatch,
    LlmPrefillResult llmPrefill) {

  /**
   * One shape, float32, medians of interleaved runs of the fast path ({@code Attention.attention}
   * without weights), ONNX Runtime and the step-by-step chain.
   *
   * @param batch B
   * @param heads H (key/value heads too)
   * @param seq S = T
   * @param headDim D
   * @param projectMs the project's fast path, milliseconds
   * @param ortMs ONNX Runtime's fused Attention, milliseconds
   * @param ratio projectMs / ortMs
   * @param projectGflops 4·B·H·S²·D / projectMs
   * @param ceilingGflops the matmul ceiling of the run
   * @param percentOfCeiling projectGflops / ceilingGflops, in percent
   * @param ortMaxAbsDiff the largest |project − ORT| over the output
   * @param stepByStepMs the step-by-step chain ({@code Attention.attentionStepByStep}),
   *     milliseconds; null where not timed (S=4096 with {@code --quick})
   * @param stepByStepMaxAbsDiff the largest |fast path − step-by-step chain| over the output
   * @param mhaMs ONNX Runtime's {@code com.microsoft.MultiHeadAttention}, milliseconds ({@code
   *     GroupQueryAttention} does not apply: it is causal-only on the CPU, these rows are not)
   * @param strongestOrt the faster of ONNX Runtime's kernels that apply: {@code Attention-23} or
   *     {@code MultiHeadAttention}
   * @param strongestOrtMs its milliseconds
   * @param ratioVsStrongest projectMs / strongestOrtMs
   * @param fmaPeakGflops the float32 multiply-add peak of the run's cores ({@code CpuPeak}; 0 where
   *     not measured)
   * @param percentOfFmaPeak projectGflops / fmaPeakGflops, in percent
   * @param strongestOrtPercentOfFmaPeak the strongest ONNX Runtime kernel's rate / fmaPeakGflops,
   *     in percent
   * @param lowestRatioAtFmaPeak the lowest projectMs / strongestOrtMs any float32 kernel could
   *     reach on these cores: the time of 4·B·H·S²·D flops at the peak, over strongestOrtMs
   */
  public record ShapeResult(
      long batch,
      long heads,
      long seq,
      long headDim,
      double projectMs,
      double ortMs,
      double ratio,
      double projectGflops,
      double ceilingGflops,
      double percentOfCeiling,
      double ortMaxAbsDiff,
      Double stepByStepMs,
      double stepByStepMaxAbsDiff,
      double mhaMs,
      String strongestOrt,
      double strongestOrtMs,
      double ratioVsStrongest,
      double fmaPeakGflops,
      double percentOfFmaPeak,
      double strongestOrtPercentOfFmaPeak,
      double lowestRatioAtFmaPeak) {}

  /**
   * One decoding step: one query against a KV cache, float32.
   *
   * @param batch B
   * @param heads H
   * @param kvHeads G
   * @param queries S (1)
   * @param keys T, the cache's length after the step
   * @param headDim D
   * @param projectMs the project's KV-cache path (append in place, attend), milliseconds
   * @param projectPlainMs the project's plain call on the whole K and V (no cache)
   * @param projectLibtorchMs the plain call with the decode kernel off: libtorch's fused kernel
   * @param gqaMs ONNX Runtime's {@code com.microsoft.GroupQueryAttention}, past and present in one
   *     buffer
   * @param attention23Ms ONNX Runtime's standard {@code Attention} (opset 23) on the whole K and V
   * @param mhaMs null: {@code com.microsoft.MultiHeadAttention} takes no grouped-query heads
   * @param strongestOrt the faster of GroupQueryAttention and Attention-23
   * @param strongestOrtMs its milliseconds
   * @param ratioVsStrongest projectMs / strongestOrtMs
   * @param kvBytes the bytes of K and V the step reads
   * @param readGbps kvBytes / projectMs
   * @param readCeilingGbps the read bandwidth of a buffer of kvBytes in the same run
   * @param percentOfReadCeiling readGbps / readCeilingGbps, in percent
   * @param cacheReadGbps libtorch's sum over the cache's own K and V buffers (the memory the step
   *     reads, on the pages it has), timed in the same rounds as the step
   * @param percentOfCacheRead readGbps / cacheReadGbps, in percent
   * @param sameRoundsReadGbps the read of a separate buffer of kvBytes on huge pages (as for
   *     readCeilingGbps), timed in the same rounds as the step, so that both see the same minute of
   *     the machine's memory bandwidth
   * @param percentOfSameRoundsRead readGbps / sameRoundsReadGbps, in percent
   * @param maxAbsDiffVsGqa the largest |project − GroupQueryAttention| over the output
   */
  public record DecodeResult(
      long batch,
      long heads,
      long kvHeads,
      long queries,
      long keys,
      long headDim,
      double projectMs,
      double projectPlainMs,
      double projectLibtorchMs,
      double gqaMs,
      double attention23Ms,
      Double mhaMs,
      String strongestOrt,
      double strongestOrtMs,
      double ratioVsStrongest,
      long kvBytes,
      double readGbps,
      double readCeilingGbps,
      double percentOfReadCeiling,
      double cacheReadGbps,
      double percentOfCacheRead,
      double sameRoundsReadGbps,
      double percentOfSameRoundsRead,
      double maxAbsDiffVsGqa) {}

  /**
   * One row of the small-call series: a block forward of the project's {@code
   * MultiHeadAttentionBlock} against DJL's {@code ScaledDotProductAttentionBlock} on the same input
   * and weights, and the project's block broken down.
   *
   * @param batch B (1)
   * @param seq S = T, self-attention
   * @param embedding E
   * @param heads H
   * @param projectMs the project's block, median per call
   * @param djlMs DJL's block, median per call
   * @param ratio projectMs / djlMs (at most 1: no slower)
   * @param projectionsMs the project's four projections alone (its parameters)
   * @param attentionMs the project's attention call alone, on the (B, H, S, D) views
   * @param restMs projectMs − projectionsMs − attentionMs: checks, reshapes, scopes
   * @param maxAbsDiffVsDjl the largest |project − DJL| over the output
   */
  public record SmallCallResult(
      long batch,
      long seq,
      long embedding,
      long heads,
      double projectMs,
      double djlMs,
      double ratio,
      double projectionsMs,
      double attentionMs,
      double restMs,
      double maxAbsDiffVsDjl) {}

  /**
   * One shape of the dispatch series: every float32 kernel that serves it, timed side by side.
   *
   * @param shapeClass small, prefill, few queries, decode or causal prefill
   * @param heads H
   * @param kvHeads G
   * @param queries S
   * @param keys T
   * @param headDim D
   * @param causal whether the causal mask applies
   * @param kernelMs per kernel name, the median milliseconds
   * @param notUsed per kernel name, why it was not timed (it cannot serve the shape, or its first
   *     call was too slow to time)
   * @param fastest the fastest kernel's name
   * @param dispatcher the kernel the dispatcher picks
   * @param dispatcherVsFastest the dispatcher's kernel's time over the fastest's (1: it picks the
   *     fastest)
   */
  public record DispatchResult(
      String shapeClass,
      long heads,
      long kvHeads,
      long queries,
      long keys,
      long headDim,
      boolean causal,
      java.util.Map<String, Double> kernelMs,
      java.util.Map<String, String> notUsed,
      String fastest,
      String dispatcher,
      double dispatcherVsFastest) {}

  /**
   * The generation loop ({@link GenerationBenchmark}): one causal attention layer without biases,
   * float32, generating {@code tokens} tokens one at a time with a KV cache, the project's {@code
   * MultiHeadAttentionBlock} against the same layer in ONNX Runtime (MatMul projections around
   * {@code com.microsoft.GroupQueryAttention}) with the same weights.
   *
   * @param heads H
   * @param kvHeads G
   * @param headDim D = E / H
   * @param embedding E
   * @param tokens the steps of a loop (and the caches' capacity)
   * @param projectTokensPerS tokens / the project's median loop seconds
   * @param ortTokensPerS tokens / ONNX Runtime's median loop seconds
   * @param ratio projectTokensPerS / ortTokensPerS: higher is better for the project
   * @param maxAbsDiff the largest |project − ONNX Runtime| over every step of every loop
   * @param maxRelDiff the largest step difference divided by that step's largest |output|
   * @param projectLoopS the project's median loop, seconds
   * @param ortLoopS ONNX Runtime's median loop, seconds
   * @param projectAttentionMsPerToken the project's attention alone (the block's cached calls
   *     without the projections), milliseconds per token, median loop
   * @param timedLoops timed loops per side whose medians these are (after one warm-up loop each)
   * @param weightHugePageBytes the bytes of the block's weights moved onto huge pages before the
   *     loops ({@code HugePages.collapse}; 0 where the kernel refused or they are turned off)
   */
  public record GenerationResult(
      long heads,
      long kvHeads,
      long headDim,
      long embedding,
      long tokens,
      double projectTokensPerS,
      double ortTokensPerS,
      double ratio,
      double maxAbsDiff,
      double maxRelDiff,
      double projectLoopS,
      double ortLoopS,
      double projectAttentionMsPerToken,
      int timedLoops,
      long weightHugePageBytes) {}

  /**
   * The causal LLM prefill: one prompt, the project against ONNX Runtime's two kernels that apply.
   *
   * @param heads H
   * @param kvHeads G
   * @param seq S = T
   * @param headDim D
   * @param projectMs the project's fast path
   * @param gqaMs {@code com.microsoft.GroupQueryAttention} (no past)
   * @param attention23Ms {@code Attention} (opset 23) with {@code is_causal}
   * @param strongestOrt the faster of the two
   * @param strongestOrtMs its milliseconds
   * @param ratioVsStrongest projectMs / strongestOrtMs
   * @param maxAbsDiff the largest |project − ONNX Runtime| of either kernel
   */
  public record LlmPrefillResult(
      long heads,
      long kvHeads,
      long seq,
      long headDim,
      double projectMs,
      double gqaMs,
      double attention23Ms,
      String strongestOrt,
      double strongestOrtMs,
      double ratioVsStrongest,
      double maxAbsDiff) {}

  /**
   * A read-bandwidth ceiling: libtorch's sum over a float32 buffer.
   *
   * @param bytes the buffer's size
   * @param ms milliseconds per read
   * @param gbps bytes / ms, GB/s
   */
  public record ReadCeiling(long bytes, double ms, double gbps) {}

  /**
   * The ceilings of the run.
   *
   * @param matmulGflops the float32 {@code 2048³} matmul rate (0 with {@code --decode})
   * @param fmaPeakGflops the float32 multiply-add peak of the cores on registers alone, above every
   *     float32 kernel (0 with {@code --decode} or without the native library)
   * @param reads the read bandwidth at each decode working-set size
   */
  public record Ceilings(double matmulGflops, double fmaPeakGflops, List<ReadCeiling> reads) {}

  /**
   * The bfloat16 mode on one shape: the dispatcher's bfloat16 kernel, and each of the bfloat16
   * kernels timed in the same interleaved rounds.
   *
   * @param seq S = T (B = 1, H = 8, D = 64)
   * @param float32Ms the float32 fast path, milliseconds
   * @param bfloat16Ms the bfloat16 fast path as the dispatcher picks it, milliseconds
   * @param speedup float32Ms / bfloat16Ms
   * @param float32MaxAbsErr the largest |float32 − float64| over the output
   * @param bfloat16MaxAbsErr the largest |bfloat16 − float64| over the output
   * @param bfloat16MaxRelErr bfloat16MaxAbsErr divided by the largest |float64 output|
   * @param kernel the kernel the dispatcher picks for the bfloat16 mode ({@code
   *     FastAttention.bfloat16Kernel()})
   * @param amxMs the native AMX kernel, milliseconds; null where the CPU or OS lacks AMX-BF16
   * @param amxSpeedup float32Ms / amxMs, or null
   * @param amxMaxAbsErr the largest |AMX bfloat16 − float64|, or null
   * @param amxMaxRelErr amxMaxAbsErr divided by the largest |float64 output|, or null
   * @param nativeMs the native AVX512_BF16 kernel, milliseconds; null where the CPU lacks it
   * @param nativeSpeedup float32Ms / nativeMs, or null
   * @param nativeMaxAbsErr the largest |native bfloat16 − float64|, or null
   * @param nativeMaxRelErr nativeMaxAbsErr divided by the largest |float64 output|, or null
   * @param libtorchMs libtorch's bfloat16 path (the TorchScript kernel), milliseconds
   * @param libtorchSpeedup float32Ms / libtorchMs
   * @param libtorchMaxAbsErr the largest |libtorch bfloat16 − float64|
   * @param libtorchMaxRelErr libtorchMaxAbsErr divided by the largest |float64 output|
   * @param rounds interleaved rounds whose medians these are
   */
  public record Bfloat16Result(
      long seq,
      double float32Ms,
      double bfloat16Ms,
      double speedup,
      double float32MaxAbsErr,
      double bfloat16MaxAbsErr,
      double bfloat16MaxRelErr,
      String kernel,
      Double amxMs,
      Double amxSpeedup,
      Double amxMaxAbsErr,
      Double amxMaxRelErr,
      Double nativeMs,
      Double nativeSpeedup,
      Double nativeMaxAbsErr,
      Double nativeMaxRelErr,
      double libtorchMs,
      double libtorchSpeedup,
      double libtorchMaxAbsErr,
      double libtorchMaxRelErr,
      int rounds) {}

  /**
   * The long-sequence probe.
   *
   * @param seq S = T
   * @param heads H
   * @param headDim D
   * @param seconds the attention call in the child, seconds
   * @param peakRssMb the child JVM's VmHWM (peak resident set), MiB
   * @param maxAbsDiffVsReference the largest |fast − float64 reference| over the checked rows
   * @param checkedRows how many query rows (per head) were checked against the reference
   */
  public record LongSequenceResult(
      long seq,
      long heads,
      long headDim,
      double seconds,
      double peakRssMb,
      double maxAbsDiffVsReference,
      int checkedRows) {}

  /**
   * The machine and the run.
   *
   * @param cores available processors
   * @param torchThreads libtorch intra-op threads
   * @param ortThreads ONNX Runtime intra-op threads
   * @param loadBefore the 1-minute load average when the run started
   * @param loadAfter the 1-minute load average when it ended
   * @param quick whether {@code --quick} was given
   * @param seconds the whole run, seconds
   */
  public record Environment(
      String kernel,
      int cores,
      int torchThreads,
      int ortThreads,
      double loadBefore,
      double loadAfter,
      boolean quick,
      double seconds) {}

  /**
   * Writes the report as JSON through a temporary file in the same directory, so {@code file} is
   * either replaced whole or left as it was.
   *
   * @param file the JSON file
   * @throws UncheckedIOException when it cannot be written
   */
  public void writeJson(Path file) {
    AtomicWrite.write(file, out -> mapper().writeValue(out, this));
  }

  /** The JSON mapper: snake_case names, indented. */
  static ObjectMapper mapper() {
    return new ObjectMapper()
        .setPropertyNamingStrategy(PropertyNamingStrategies.SNAKE_CASE)
        .enable(SerializationFeature.INDENT_OUTPUT);
  }
}
