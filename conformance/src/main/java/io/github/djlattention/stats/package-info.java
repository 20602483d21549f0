/**
 * Element-wise error statistics between two arrays ({@link
 * io.github.djlattention.stats.ErrorStats}): max absolute and floored relative errors, percentiles,
 * cosine similarity, the worst element, whole or per index along an axis (per head). Plain Java
 * over {@code double[]}, no dependencies.
 */
package io.github.djlattention.stats;
