/**
 * ONNX: {@link io.github.djlattention.onnx.OnnxTensors} converts between {@code TensorProto} and
 * NDArrays; {@link io.github.djlattention.onnx.OnnxExporter} writes the attention blocks as ONNX
 * models in two forms (a decomposed opset-17 graph and a graph around the opset-23 {@code
 * Attention} operator), built through {@link io.github.djlattention.onnx.OnnxGraphBuilder}, which
 * owns the value names; the opset, IR version and producer live in {@link
 * io.github.djlattention.onnx.OnnxConstants}.
 */
package io.github.djlattention.onnx;
