/**
 * Conformance suites: cases with oracle outputs, implementations run on them, element-wise
 * comparisons with per-dtype tolerances, three-way verdicts and the console, JSON and HTML reports.
 *
 * <p>A {@link io.github.djlattention.conformance.ConformanceSuite} names its cases, its oracle, the
 * project's implementation and any other implementations (such as ONNX Runtime). {@link
 * io.github.djlattention.conformance.ConformanceRunner} runs every implementation on every case and
 * compares with the oracle using {@link io.github.djlattention.conformance.Tolerances}; the project
 * passes a case when its outputs agree with the oracle, whatever the other implementations do. The
 * ONNX operator's own cases form the {@code onnx-attention} suite ({@link
 * io.github.djlattention.conformance.OnnxAttentionSuite}).
 */
package io.github.djlattention.conformance;
