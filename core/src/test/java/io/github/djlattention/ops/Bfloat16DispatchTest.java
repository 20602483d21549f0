package io.github.djlattention.ops;

import static org.junit.jupiter.api.Assertions.assertSame;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.DataType;
import ai.djl.ndarray.types.Shape;
import io.github.djlattention.ops.FastAttention.Kernel;
import io.github.djlattention.ops.FastAttention.Precision;
import io.github.djlattention.testing.TestTensors;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

/**
 * Which kernel {@link Precision#BFLOAT16} calls take: the AMX kernel where it runs, else the
 * AVX512_BF16 kernel on CPUs without AMX, else libtorch's bfloat16 path; never a native kernel for
 * a call that records gradients; the properties that turn each off or on. The expectations are
 * derived from what this CPU has, so the tests hold (and check something) on every CPU.
 */
class Bfloat16DispatchTest {

  private static NDManager manager;

  @BeforeAll
  static void open() {
    manager = TestTensors.manager();
  }

  @AfterAll
  static void close() {
    manager.close();
  }

  /** What AUTO should pick for a bfloat16 call on this CPU with the properties as they are. */
  private static AttentionKernel expectedBfloat16Kernel() {
    if (NativeBfloat16Kernel.amxAvailable()) {
      return NativeBfloat16Kernel.AMX;
    }
    if (NativeBfloat16Kernel.available() && NativeBfloat16Kernel.preferredOnThisCpu()) {
      return NativeBfloat16Kernel.INSTANCE;
    }
    return TorchScriptKernel.INFERENCE;
  }

  @Test
  void bfloat16CallsTakeTheKernelThisCpuRunsBest() {
    try (NDManager m = manager.newSubManager()) {
      // S = 64: a prefill shape (S <= DecodeAttentionKernel.MAX_QUERIES takes the decode kernel in
      // float32 everywhere)
      NDArray x = m.randomUniform(-1, 1, new Shape(1, 2, 64, 16));
      AttentionOptions options = AttentionOptions.builder().optReturnWeights(false).build();
      AttentionKernel expected = expectedBfloat16Kernel();
      assertSame(expected, chosen(x, options, Precision.BFLOAT16));
      assertSame(expected, chosen(x.toType(DataType.FLOAT16, false), options, Precision.BFLOAT16));
      // float32: the native prefill kernel (its AVX-512 or AVX2 variant), else libtorch's
      AttentionKernel float32 =
          NativeAttentionKernel.available()
              ? NativeAttentionKernel.INSTANCE
              : TorchScriptKernel.INFERENCE;
      assertSame(float32, chosen(x, options, Precision.INPUT));
      String described = FastAttention.bfloat16Kernel();
      if (expected == NativeBfloat16Kernel.AMX) {
        assertTrue(described.startsWith("native AMX"), described);
      } else if (expected == NativeBfloat16Kernel.INSTANCE) {
        assertTrue(described.startsWith("native AVX512_BF16"), described);
      } else {
        assertTrue(described.startsWith("libtorch"), described);
      }
    }
  }

  /**
   * A call that records gradients never takes either native kernel (they write outside autograd):
   * the dispatcher takes a kernel that records, and forcing one of them is refused. Holds on every
   * CPU.
   */
  @Test
  void callsThatRecordGradientsTakeNeitherNativeKernel() {
    try (NDManager m = manager.newSubManager()) {
      NDArray x = m.randomUniform(-1, 1, new Shape(1, 2, 8, 16));
      AttentionOptions training =
          AttentionOptions.builder().optReturnWeights(false).optTraining(true).build();
      AttentionCall call =
          FastAttention.call(
              x, x, x, training, Precision.BFLOAT16, FastAttention.DEFAULT_TILE_ELEMENTS);
      AttentionKernel kernel = FastAttention.choose(call, Kernel.AUTO);
      assertTrue(kernel.recordsGradients(), "took " + kernel);
      for (Kernel pinned : new Kernel[] {Kernel.NATIVE_BFLOAT16, Kernel.NATIVE_AMX}) {
        IllegalArgumentException e =
            assertThrows(
                IllegalArgumentException.class,
                () ->
                    FastAttention.output(
                        x,
                        x,
                        x,
                        training,
                        Precision.BFLOAT16,
                        pinned,
                        FastAttention.DEFAULT_TILE_ELEMENTS));
        assertTrue(e.getMessage().contains("records no gradients"), e.getMessage());
      }
    }
  }

  /**
   * With the AMX kernel turned off, an AMX CPU keeps libtorch's bfloat16 path (which uses the
   * tiles) unless the property asks for the AVX512_BF16 kernel; a CPU without AMX picks the
   * AVX512_BF16 kernel either way.
   */
  @Test
  void withoutTheAmxKernelAnAmxCpuPrefersLibtorchUnlessAskedOtherwise() {
    assumeTrue(
        NativeBfloat16Kernel.available(),
        () -> "the AVX512_BF16 kernel does not run here: " + NativeBfloat16Kernel.status());
    try (Properties p = new Properties()) {
      p.set(NativeBfloat16Kernel.AMX_PROPERTY, "false");
      try (NDManager m = manager.newSubManager()) {
        NDArray x = m.randomUniform(-1, 1, new Shape(1, 2, 32, 16));
        AttentionOptions options = AttentionOptions.builder().optReturnWeights(false).build();
        String refusal =
            FastAttention.refusal(x, x, x, options, Precision.BFLOAT16, Kernel.NATIVE_AMX);
        assertTrue(refusal.contains("-Ddjl.attention.native.amx=false"), refusal);
        AttentionKernel expected =
            NativeBfloat16Kernel.hasAmx()
                ? TorchScriptKernel.INFERENCE
                : NativeBfloat16Kernel.INSTANCE;
        assertSame(expected, chosen(x, options, Precision.BFLOAT16));
        p.set(NativeBfloat16Kernel.ENABLED_PROPERTY, "true");
        assertSame(NativeBfloat16Kernel.INSTANCE, chosen(x, options, Precision.BFLOAT16));
        assertTrue(FastAttention.bfloat16Kernel().startsWith("native AVX512_BF16"));
      }
    }
  }

  /** Turned off (or on a CPU without AVX512_BF16), bfloat16 calls take libtorch's path. */
  @Test
  void withoutTheKernelsBfloat16CallsTakeLibtorch() {
    try (Properties p = new Properties()) {
      p.set(NativeBfloat16Kernel.ENABLED_PROPERTY, "false");
      try (NDManager m = manager.newSubManager()) {
        NDArray x = m.randomUniform(-1, 1, new Shape(1, 2, 32, 16));
        AttentionOptions options = AttentionOptions.builder().optReturnWeights(false).build();
        assertSame(TorchScriptKernel.INFERENCE, chosen(x, options, Precision.BFLOAT16));
        for (Kernel pinned : new Kernel[] {Kernel.NATIVE_BFLOAT16, Kernel.NATIVE_AMX}) {
          String refusal = FastAttention.refusal(x, x, x, options, Precision.BFLOAT16, pinned);
          assertTrue(refusal.contains("-Ddjl.attention.native.bfloat16=false"), refusal);
        }
        assertTrue(FastAttention.bfloat16Kernel().startsWith("libtorch"));
      }
    }
  }

  /** Both kernels decline what they do not compute, naming it. */
  @Test
  void theyDeclineFloat64AndTheInputPrecision() {
    try (NDManager m = manager.newSubManager()) {
      NDArray x = m.randomUniform(-1, 1, new Shape(1, 2, 8, 16));
      AttentionOptions options = AttentionOptions.builder().optReturnWeights(false).build();
      for (Kernel pinned : new Kernel[] {Kernel.NATIVE_BFLOAT16, Kernel.NATIVE_AMX}) {
        NativeBfloat16Kernel kernel = (NativeBfloat16Kernel) pinned.implementation();
        if (kernel.runs()) {
          String input = FastAttention.refusal(x, x, x, options, Precision.INPUT, pinned);
          assertTrue(input.contains("Precision.BFLOAT16"), input);
          NDArray wide = x.toType(DataType.FLOAT64, false);
          String float64 =
              FastAttention.refusal(wide, wide, wide, options, Precision.BFLOAT16, pinned);
          assertTrue(float64.contains("float16 or float32"), float64);
        } else {
          String refusal = FastAttention.refusal(x, x, x, options, Precision.BFLOAT16, pinned);
          assertTrue(refusal.contains("not available"), refusal);
          assertTrue(refusal.contains(kernel.unit()), refusal);
        }
      }
    }
  }

  private static AttentionKernel chosen(NDArray x, AttentionOptions options, Precision precision) {
    return FastAttention.choose(
        FastAttention.call(x, x, x, options, precision, FastAttention.DEFAULT_TILE_ELEMENTS),
        Kernel.AUTO);
  }

  /** System properties set for a test and put back as they were, in reverse order. */
  private static final class Properties implements AutoCloseable {
    private final java.util.ArrayDeque<String[]> saved = new java.util.ArrayDeque<>();

    void set(String name, String value) {
      saved.push(new String[] {name, System.getProperty(name)});
      System.setProperty(name, value);
    }

    @Override
    public void close() {
      while (!saved.isEmpty()) {
        String[] entry = saved.pop();
        if (entry[1] == null) {
          System.clearProperty(entry[0]);
        } else {
          System.setProperty(entry[0], entry[1]);
        }
      }
    }
  }
}
