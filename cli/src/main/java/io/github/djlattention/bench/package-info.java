/**
 * Benchmarks of the project's attention against ONNX Runtime's fused {@code Attention} operator,
 * run side by side in one process, plus a long-sequence memory probe run in a child JVM, the decode
 * series and its generation loop (a whole attention layer generating tokens, in tokens per second,
 * against the same layer in ONNX Runtime).
 *
 * <p>{@link io.github.djlattention.bench.AttentionBenchmark} is the entry point (the CLI's {@code
 * bench} command calls it); {@link io.github.djlattention.bench.BenchmarkReport} is what it returns
 * and writes as JSON.
 */
package io.github.djlattention.bench;
