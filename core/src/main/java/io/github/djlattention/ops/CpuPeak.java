package io.github.djlattention.ops;

import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.BrokenBarrierException;
import java.util.concurrent.CyclicBarrier;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.TimeoutException;

/**
 * The float32 arithmetic ceiling of this machine: the rate of fused multiply-adds (512 bits wide
 * with AVX-512, else 256 with AVX2) that {@code threads} cores sustain together on registers alone
 * (twelve independent chains per core, no memory access; {@code core/src/main/c/cpu_peak.c}). No
 * float32 kernel can compute faster, so a benchmark can say how far a kernel is from it, and how
 * fast another library would have to be for a ratio to be reachable at all.
 */
public final class CpuPeak {

  /** Chains of multiply-adds per round of the C loop (each of fmaLanes() lanes, 2 flops). */
  private static final int CHAINS = 12;

  /** How long the caller waits for the threads of one run. */
  private static final long RUN_TIMEOUT_SECONDS = 120;

  private CpuPeak() {}

  /**
   * Measures the peak: {@code threads} threads, each on its own core as the OS schedules them, run
   * the loop at once for about {@code millis} milliseconds; the best of {@code tries} runs.
   *
   * @param threads the threads to run at once (the cores the kernels use)
   * @param millis about how long each run takes
   * @param tries how many runs (the best is returned)
   * @return GFLOP/s of all threads together
   * @throws IllegalStateException where the native library is not loaded or this CPU lacks both
   *     AVX-512 and AVX2 with FMA
   */
  public static double float32FmaGflops(int threads, int millis, int tries) {
    String status = NativeAttentionKernel.status();
    if (status != null) {
      throw new IllegalStateException("the FMA peak needs the native library: " + status);
    }
    if (threads < 1 || millis < 1 || tries < 1) {
      throw new IllegalArgumentException(
          "threads, millis and tries must be positive: " + threads + ", " + millis + ", " + tries);
    }
    // calibrate on one thread: rounds for about `millis`
    long rounds = 1 << 20;
    long start = System.nanoTime();
    fmaRounds(rounds);
    double perRound = (System.nanoTime() - start) / (double) rounds;
    long timed = Math.max(rounds, (long) (millis * 1e6 / perRound));
    double best = 0;
    for (int attempt = 0; attempt < tries; attempt++) {
      best = Math.max(best, run(threads, timed));
    }
    return best;
  }

  /**
   * The width of the multiply-adds {@link #float32FmaGflops} runs on this CPU.
   *
   * @return 512 (AVX-512) or 256 (AVX2)
   * @throws IllegalStateException where the native library is not loaded or this CPU lacks both
   */
  public static int vectorBits() {
    String status = NativeAttentionKernel.status();
    if (status != null) {
      throw new IllegalStateException("the FMA peak needs the native library: " + status);
    }
    return fmaLanes() * Float.SIZE;
  }

  /** One run: every thread's loop starts at one barrier; the wall time until the last ends. */
  private static double run(int threads, long rounds) {
    CyclicBarrier barrier = new CyclicBarrier(threads + 1);
    List<Thread> workers = new ArrayList<>();
    for (int i = 0; i < threads; i++) {
      Thread worker =
          new Thread(
              () -> {
                try {
                  barrier.await();
                  fmaRounds(rounds);
                  barrier.await();
                } catch (Exception e) {
                  Thread.currentThread().interrupt();
                }
              },
              "djl-attention-fma-peak-" + i);
      worker.setDaemon(true);
      workers.add(worker);
      worker.start();
    }
    try {
      // bounded waits: a run is seconds at most, and a worker that died must not hang the caller
      barrier.await(RUN_TIMEOUT_SECONDS, TimeUnit.SECONDS);
      long start = System.nanoTime();
      barrier.await(RUN_TIMEOUT_SECONDS, TimeUnit.SECONDS);
      double seconds = (System.nanoTime() - start) / 1e9;
      for (Thread worker : workers) {
        worker.join();
      }
      return threads * rounds * (CHAINS * fmaLanes() * 2.0) / seconds / 1e9;
    } catch (TimeoutException | BrokenBarrierException e) {
      throw new IllegalStateException("the FMA peak's threads did not finish", e);
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
      throw new IllegalStateException("the FMA peak's threads were interrupted", e);
    }
  }

  private static native float fmaRounds(long rounds);

  /** The lanes of each multiply-add of fmaRounds on this CPU: 16 (AVX-512) or 8 (AVX2). */
  private static native int fmaLanes();
}
