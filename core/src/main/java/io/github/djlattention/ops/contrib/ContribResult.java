package io.github.djlattention.ops.contrib;

import ai.djl.ndarray.NDArray;

/**
 * The outputs of a contrib attention operator.
 *
 * @param output the attention output, (B, S, H·Dv)
 * @param presentKey the key cache after this step, (B, G, T, D) (G = H where there are no separate
 *     key/value heads); {@code ContribAttention}'s {@code present} stacks it with the value cache,
 *     see {@link ContribAttention#present(ContribResult)}
 * @param presentValue the value cache after this step, (B, G, T, Dv)
 * @param weights the attention weights (B, H, S, T) when requested, else null
 */
public record ContribResult(
    NDArray output, NDArray presentKey, NDArray presentValue, NDArray weights) {}
