/**
 * DJL {@link ai.djl.nn.Block}s built on {@link io.github.djlattention.ops.Attention}: the seed's
 * single-head {@link io.github.djlattention.blocks.SelfAttentionBlock} and a grouped-query {@link
 * io.github.djlattention.blocks.MultiHeadAttentionBlock}, both {@link
 * io.github.djlattention.blocks.AttentionBlock}s. Both run inside a DJL {@link ai.djl.Model}
 * through a {@link ai.djl.inference.Predictor} and save their parameters in DJL's own format; their
 * parameter names follow PyTorch's ({@code W_q.weight}, {@code q_proj.weight}, …).
 *
 * <p>Both return the attention output alone unless built with {@code optAttentionWeights} ({@link
 * io.github.djlattention.blocks.AttentionWeights}), and take an optional key-padding mask as {@code
 * torch.nn.MultiheadAttention} does ({@code optKeyPaddingMask}). {@link
 * io.github.djlattention.blocks.StateDicts} loads PyTorch state dicts into them.
 */
package io.github.djlattention.blocks;
