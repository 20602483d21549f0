/**
 * Functional self-attention over DJL {@link ai.djl.ndarray.NDArray}s.
 *
 * <p>{@link io.github.djlattention.ops.Attention} holds one static method per step of the seed
 * document (dot-product scores, scaling, softmax, weighted sum of V) and the whole attention with
 * masks, causal masking, grouped-query heads and softcap, configured by {@link
 * io.github.djlattention.ops.AttentionOptions}. The options also cover what the ONNX {@code
 * Attention} operator defines for decoding and batching: a KV cache with bottom-right aligned
 * causal masking, per-batch valid key counts, sliding windows, the softmax precision and the
 * intermediate scores ({@link io.github.djlattention.ops.ScoresOutput}).
 *
 * <p>{@link io.github.djlattention.ops.FastAttention} is the fast path that {@code attention} takes
 * when only the output is wanted: it never holds the (S, T) scores. float32 attention (masks,
 * softcap, causal and grouped-query heads included) runs the project's own kernels, AVX-512 or AVX2
 * picked at run time (C source in {@code core/src/main/c}, on libtorch's OpenMP threads): a prefill
 * kernel, and a decode kernel for few queries, valid key counts and sliding windows; the rest runs
 * libtorch's fused kernel through a small TorchScript module on the PyTorch engine. The opt-in
 * bfloat16 mode ({@code FastAttention.Precision.BFLOAT16}) runs the project's AVX512_BF16 kernel
 * ({@code NativeBfloat16Kernel}) where the CPU has it, else libtorch's bfloat16 path.
 *
 * <p>{@link io.github.djlattention.ops.KvCache} is a KV cache for generation that appends in place:
 * preallocated buffers per layer and a length per sequence, passed with {@link
 * io.github.djlattention.ops.AttentionOptions.Builder#optCache}.
 */
package io.github.djlattention.ops;
