package io.github.djlattention.ops;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertSame;
import static org.junit.jupiter.api.Assertions.assertTrue;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.Shape;
import io.github.djlattention.testing.TestTensors;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.atomic.AtomicBoolean;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

class HugePagesTest {

  private static NDManager manager;

  @BeforeAll
  static void open() {
    manager = TestTensors.manager();
  }

  @AfterAll
  static void close() {
    manager.close();
  }

  @Test
  void collapsingLeavesTheArrayAsItWasWhileAnotherThreadReadsIt() throws Exception {
    try (NDManager caller = manager.newSubManager()) {
      NDArray weights = caller.randomUniform(-1, 1, new Shape(1024, 2048)); // 8 MiB
      float[] before = weights.toFloatArray();
      float expected = weights.sum().getFloat();
      AtomicBoolean stop = new AtomicBoolean();
      ExecutorService reader = Executors.newSingleThreadExecutor();
      try {
        Future<Integer> reads =
            reader.submit(
                () -> {
                  int count = 0;
                  while (!stop.get() || count == 0) {
                    try (NDManager scope = caller.newSubManager()) {
                      NDArray sum = weights.sum();
                      sum.attach(scope);
                      assertEquals(expected, sum.getFloat(), 0f, "a read during the collapse");
                    }
                    count++;
                  }
                  return count;
                });
        long moved = HugePages.collapse(weights);
        stop.set(true);
        assertTrue(reads.get() > 0);
        long bytes = weights.getShape().size() * Float.BYTES;
        assertTrue(moved >= 0 && moved <= bytes, "moved " + moved + " of " + bytes);
        assertEquals(0, moved % HugePages.PAGE_BYTES, "whole huge pages only");
      } finally {
        reader.shutdownNow();
      }
      assertArrayEquals(before, weights.toFloatArray(), "the contents are unchanged");
      assertSame(caller, weights.getManager(), "the array stays in the caller's manager");
      assertTrue(weights.getShape().equals(new Shape(1024, 2048)));
    }
  }

  @Test
  void smallArraysAndThePropertyOffAreLeftAlone() {
    try (NDManager caller = manager.newSubManager()) {
      assertEquals(0, HugePages.collapse(caller.ones(new Shape(1000, 100)))); // 400 KB
      NDArray big = caller.ones(new Shape(1024, 1024));
      String before = System.getProperty(HugePages.ENABLED_PROPERTY);
      System.setProperty(HugePages.ENABLED_PROPERTY, "false");
      try {
        assertEquals(0, HugePages.collapse(big));
      } finally {
        if (before == null) {
          System.clearProperty(HugePages.ENABLED_PROPERTY);
        } else {
          System.setProperty(HugePages.ENABLED_PROPERTY, before);
        }
      }
      assertEquals(1024 * 1024, big.sum().getFloat(), 0f);
    }
  }
}
