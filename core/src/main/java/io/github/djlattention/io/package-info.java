/**
 * NumPy {@code .npy} and {@code .npz} files to and from DJL {@link ai.djl.ndarray.NDArray}s.
 *
 * <p>{@link io.github.djlattention.io.Npy} reads and writes single arrays, {@link
 * io.github.djlattention.io.Npz} reads and writes archives of named arrays (as written by {@code
 * numpy.savez} and {@code numpy.savez_compressed}). Both validate user-supplied files strictly:
 * malformed content fails with an {@link java.lang.IllegalArgumentException} whose message names
 * the file and the problem, before any large allocation; genuine I/O failures surface as {@link
 * java.io.UncheckedIOException}. Every size, count and depth read from a file is bounded by {@link
 * io.github.djlattention.io.InputLimits} (one place, with documented defaults and system-property
 * overrides) before the memory it guards is allocated, and only regular files are opened. Writes
 * are atomic: a temporary file in the target directory is moved over the target, so a failed write
 * never leaves a half-written file.
 *
 * <p>{@link io.github.djlattention.io.ElementType} is the project's one table of element types: DJL
 * data type, NumPy name and descriptor, ONNX name and number (the ONNX module and the ONNX Runtime
 * runner map through it).
 */
package io.github.djlattention.io;
