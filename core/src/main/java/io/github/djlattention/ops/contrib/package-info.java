/**
 * ONNX Runtime's fused attention operators of the {@code com.microsoft} domain, as functions over
 * DJL {@link ai.djl.ndarray.NDArray}s built on {@link io.github.djlattention.ops.Attention}: {@link
 * io.github.djlattention.ops.contrib.ContribMultiHeadAttention} ({@code MultiHeadAttention}),
 * {@link io.github.djlattention.ops.contrib.ContribGroupQueryAttention} ({@code
 * GroupQueryAttention}) and {@link io.github.djlattention.ops.contrib.ContribAttention} ({@code
 * Attention}), with the rotary embedding that {@code GroupQueryAttention} applies ({@link
 * io.github.djlattention.ops.contrib.RotaryEmbedding}).
 *
 * <p>Each operator is built like a node: a builder takes the node's attributes, and {@code compute}
 * takes the node's inputs by their ONNX names, so that a graph's node can be recomputed with no
 * ONNX dependency. Each class documents the semantics it implements: the operator's documentation
 * in ONNX Runtime's {@code docs/ContribOperators.md}, read where it is silent as stated there. The
 * {@code contrib} conformance suite compares these functions, an independent float64 reference
 * ({@link io.github.djlattention.reference.ReferenceContribAttention}) and ONNX Runtime.
 */
package io.github.djlattention.ops.contrib;
