/**
 * Element-wise comparison of arrays, the one the project uses everywhere (the conformance suites,
 * the command line's {@code check}, the tests): {@link
 * io.github.djlattention.compare.ElementComparison} gives the tolerance verdict under a {@link
 * io.github.djlattention.compare.Tolerance} (with the NaN and infinity rule), the worst element and
 * error statistics (max absolute, relative and floored relative error, percentiles, cosine
 * similarity); {@link io.github.djlattention.compare.Tolerances} holds the project's tolerance per
 * element type. Plain Java over float64 values; imports no other package of the project.
 */
package io.github.djlattention.compare;
