/**
 * ONNX Runtime runner: sessions from ONNX models, NDArray inputs and outputs, CPU or CUDA execution
 * provider.
 *
 * <p>{@link io.github.djlattention.ort.OrtRunner} wraps one {@code OrtSession}; it is safe to share
 * across threads and must be closed.
 */
package io.github.djlattention.ort;
