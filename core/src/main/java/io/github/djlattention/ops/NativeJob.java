package io.github.djlattention.ops;

import java.util.Arrays;
import java.util.function.LongConsumer;
import java.util.function.LongUnaryOperator;

/**
 * A job planned by one of the project's C kernels (attention, decode, bfloat16, few-row linear),
 * run the one way they all share: the plan's code checked (0: the buffers do not fit, −1: out of
 * memory), the items computed on libtorch's OpenMP team or on the calling thread and the kernels'
 * helper threads, the count of computed items checked, and the job released whatever happened.
 *
 * @param items the job's work items
 * @param team runs the job on the OpenMP team and returns the items computed
 * @param work computes items on the calling thread until none is left and returns how many
 * @param release frees the job
 */
record NativeJob(
    LongUnaryOperator items, LongUnaryOperator team, LongUnaryOperator work, LongConsumer release) {

  /**
   * Runs a planned job and releases it.
   *
   * @param job the plan's handle, or 0 or −1 when planning failed
   * @param openMp whether to run on libtorch's OpenMP team (else the helper threads)
   * @param workers the threads the job was planned for
   * @param what the kernel, for messages ("the decode attention kernel")
   * @param shape the call's shape, for the message when the buffers do not fit
   * @param dimsLabel what {@code dims} holds, for the message ("B, H, G, S, T, D, Dv")
   * @param dims the call's sizes, for the message when a thread ran out of scratch memory
   * @throws IllegalStateException when the buffers did not fit, memory ran out, or a thread could
   *     not allocate its scratch memory
   */
  void run(
      long job,
      boolean openMp,
      int workers,
      String what,
      Object shape,
      String dimsLabel,
      long[] dims) {
    if (job == 0) {
      throw new IllegalStateException(what + " got tensors that do not fit the shape " + shape);
    }
    if (job == -1) {
      throw new IllegalStateException(what + " ran out of memory");
    }
    try {
      long count = items.applyAsLong(job);
      long computed;
      if (openMp) {
        computed = team.applyAsLong(job);
      } else {
        int helpers = (int) Math.min(count, workers) - 1;
        computed = NativeAttentionKernel.helperThreads().run(() -> work.applyAsLong(job), helpers);
      }
      if (computed != count) {
        throw new IllegalStateException(
            what
                + " could not allocate its scratch memory (computed "
                + computed
                + " of "
                + count
                + " blocks for "
                + dimsLabel
                + " = "
                + Arrays.toString(dims)
                + ")");
      }
    } finally {
      release.accept(job);
    }
  }
}
