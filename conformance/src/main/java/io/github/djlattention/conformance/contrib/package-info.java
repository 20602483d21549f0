/**
 * The {@code contrib} conformance suite: ONNX Runtime's fused {@code com.microsoft} attention
 * operators ({@code MultiHeadAttention}, {@code GroupQueryAttention}, {@code Attention}) on seeded
 * generated cases, each run as a single-node model on ONNX Runtime and through the project's
 * adapters ({@link io.github.djlattention.ops.contrib}), both compared with the float64 reference
 * ({@link io.github.djlattention.reference.ReferenceContribAttention}).
 *
 * <p>{@link io.github.djlattention.conformance.contrib.ContribNode} is one node (the operator and
 * its attributes), {@link io.github.djlattention.conformance.contrib.ContribCase} a node with its
 * inputs, {@link io.github.djlattention.conformance.contrib.ContribCases} the generated matrix and
 * {@link io.github.djlattention.conformance.contrib.ContribSuite} the suite.
 */
package io.github.djlattention.conformance.contrib;
