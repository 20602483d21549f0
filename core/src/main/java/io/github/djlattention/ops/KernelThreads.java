package io.github.djlattention.ops;

import java.util.concurrent.atomic.AtomicInteger;
import java.util.concurrent.atomic.AtomicLong;
import java.util.concurrent.locks.LockSupport;
import java.util.function.LongSupplier;

/**
 * Helper threads for a native kernel whose threads take work items from shared ranges: the caller
 * publishes a task, works on it itself, and the helpers that wake in time work on it too. A task's
 * worker returns how many items it computed (or a negative number when it took none).
 *
 * <p>After a task a helper spins for {@link #SPIN_NANOS} before it parks, so that back-to-back
 * calls (a model's layers, a benchmark) find it awake: waking a parked thread costs more than a
 * small attention call. A helper never waits for anything but the next task, and the caller waits
 * only for helpers that are inside its own task, so there is no deadlock and a slow or descheduled
 * helper costs the call only the item it holds.
 */
final class KernelThreads {

  /** How long an idle helper polls for the next task before it parks. */
  static final long SPIN_NANOS = 100_000;

  private final Helper[] helpers;
  private volatile Task current;

  /**
   * Starts the helper threads (daemons).
   *
   * @param count the number of helper threads
   */
  KernelThreads(int count) {
    helpers = new Helper[count];
    for (int i = 0; i < count; i++) {
      helpers[i] = new Helper("djl-attention-kernel-" + (i + 1));
      helpers[i].start();
    }
  }

  /**
   * Runs a task on the calling thread and up to {@code wanted} helpers.
   *
   * @param worker computes items until none is left and returns how many it computed
   * @param wanted how many helpers may join
   * @return the items computed by every thread together
   */
  long run(LongSupplier worker, int wanted) {
    Task task = new Task(worker, Math.min(wanted, helpers.length));
    if (wanted > 0 && helpers.length > 0) {
      current = task;
      for (Helper helper : helpers) {
        if (helper.parked) {
          LockSupport.unpark(helper);
        }
      }
    }
    task.add(worker.getAsLong());
    return task.close();
  }

  /**
   * One call's task: helpers enter while it is open; closing it waits for those inside, spinning
   * first (a helper usually finishes its last item within microseconds of the caller), then
   * parking.
   */
  private static final class Task {
    private static final int CLOSED = 1 << 30;

    private final LongSupplier worker;
    private final AtomicInteger seats;

    /** Helpers inside, plus CLOSED once the caller closed the task. */
    private final AtomicInteger state = new AtomicInteger();

    private final AtomicLong computed = new AtomicLong();
    private final Thread caller = Thread.currentThread();

    Task(LongSupplier worker, int seats) {
      this.worker = worker;
      this.seats = new AtomicInteger(seats);
    }

    boolean enter() {
      if (seats.getAndDecrement() <= 0) {
        return false;
      }
      while (true) {
        int current = state.get();
        if ((current & CLOSED) != 0) {
          return false;
        }
        if (state.compareAndSet(current, current + 1)) {
          return true;
        }
      }
    }

    void add(long items) {
      computed.addAndGet(Math.max(0, items)); // negative: that thread took no item
    }

    void leave() {
      if (state.decrementAndGet() == CLOSED) {
        LockSupport.unpark(caller);
      }
    }

    /** Closes the task, waits (uninterruptibly) for the helpers inside, returns the items done. */
    long close() {
      long spinUntil = System.nanoTime() + SPIN_NANOS;
      state.addAndGet(CLOSED);
      while (state.get() != CLOSED) {
        if (System.nanoTime() < spinUntil) {
          Thread.onSpinWait();
        } else {
          LockSupport.park(this); // leave() unparks; a spurious return just loops
        }
      }
      return computed.get();
    }
  }

  private final class Helper extends Thread {
    volatile boolean parked;

    Helper(String name) {
      super(name);
      setDaemon(true);
    }

    @Override
    public void run() {
      Task seen = null;
      long idleSince = System.nanoTime();
      while (true) {
        Task task = current;
        if (task != null && task != seen) {
          seen = task;
          if (task.enter()) {
            try {
              task.add(task.worker.getAsLong());
            } finally {
              task.leave();
            }
          }
          idleSince = System.nanoTime();
        } else if (System.nanoTime() - idleSince < SPIN_NANOS) {
          Thread.onSpinWait();
        } else {
          parked = true;
          if (current == seen) {
            LockSupport.park(this);
          }
          parked = false;
          idleSince = System.nanoTime();
        }
      }
    }
  }
}
