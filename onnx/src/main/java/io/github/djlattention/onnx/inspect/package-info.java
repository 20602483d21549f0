/**
 * Graph analysis of ONNX models: {@link io.github.djlattention.onnx.inspect.AttentionFinder} finds
 * every attention site ({@link io.github.djlattention.onnx.inspect.AttentionSite}), written out as
 * MatMul/Softmax/MatMul or computed by the ONNX {@code Attention} operator or ONNX Runtime's fused
 * {@code com.microsoft} operators, with its tensors, heads, scale, masks ({@link
 * io.github.djlattention.onnx.inspect.SiteMask}) and the float or quantized projections around it
 * ({@link io.github.djlattention.onnx.inspect.Projection}); {@link
 * io.github.djlattention.onnx.inspect.ModelTaps} exposes a site's tensors as graph outputs on a
 * copy of the model so that one ONNX Runtime run returns them. {@link
 * io.github.djlattention.onnx.inspect.ModelGraph} indexes a graph for these walks; {@link
 * io.github.djlattention.onnx.inspect.ConstantValues} reads initializers in plain Java.
 */
package io.github.djlattention.onnx.inspect;
