/**
 * Benchmarks of the project's attention against ONNX Runtime's fused {@code Attention} operator,
 * run side by side in one process, plus a long-sequence memory probe run in a child JVM.
 *
 * <p>{@link io.github.djlattention.bench.AttentionBenchmark} is the entry point (the CLI's {@code
 * bench} command calls it); {@link io.github.djlattention.bench.BenchmarkReport} is what it returns
 * and writes as JSON.
 */
package io.github.djlattention.bench;
