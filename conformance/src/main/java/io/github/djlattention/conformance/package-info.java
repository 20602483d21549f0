/**
 * Conformance suites: cases with oracle outputs, implementations run on them, element-wise
 * comparisons with per-dtype tolerances, three-way verdicts and the console, JSON and HTML reports.
 *
 * <p>A {@link io.github.djlattention.conformance.ConformanceSuite} names its cases, its oracle, the
 * project's implementation and any other implementations (such as ONNX Runtime). {@link
 * io.github.djlattention.conformance.ConformanceRunner} runs every implementation on every case and
 * compares with the oracle using {@link io.github.djlattention.compare.Tolerances}; the project
 * passes a case when the outputs of each of its implementations that runs it agree with the oracle,
 * whatever the other implementations do. Three suites: the ONNX operator's own cases ({@link
 * io.github.djlattention.conformance.OnnxAttentionSuite}, oracle: the ONNX reference), a seeded
 * matrix ({@link io.github.djlattention.conformance.GeneratedSuite}, oracle: the float64 reference;
 * the functional API and the blocks through {@link io.github.djlattention.conformance.BlockCase},
 * and their ONNX exports) and the PyTorch reference models ({@link
 * io.github.djlattention.conformance.PytorchSuite}, oracle: PyTorch's outputs).
 */
package io.github.djlattention.conformance;
