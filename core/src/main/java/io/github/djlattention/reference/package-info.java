/**
 * A plain-Java, float64 attention that a reader can check by eye: the control every fast path and
 * every other framework is compared with.
 */
package io.github.djlattention.reference;
