package io.github.djlattention.testing;

import ai.djl.Model;
import ai.djl.inference.Predictor;
import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDList;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.DataType;
import ai.djl.ndarray.types.Shape;
import ai.djl.translate.NoopTranslator;
import ai.djl.translate.TranslateException;
import io.github.djlattention.blocks.AttentionWeights;
import io.github.djlattention.blocks.MultiHeadAttentionBlock;
import io.github.djlattention.ops.Attention;
import io.github.djlattention.ops.AttentionOptions;
import java.nio.file.Path;
import java.nio.file.Paths;
import java.util.Locale;
import java.util.Random;

/**
 * Repeats one forward call many times in this JVM and reports the resident set size (VmRSS) after
 * warm-up and at the end: the measurement behind {@code scripts/native-memory.sh} and the native
 * memory tests.
 *
 * <p>Usage: {@code NativeMemoryProbe block|ort|fast CALLS WARMUP [MODEL.onnx]}. With the system
 * property {@code probe.leakBytes=N}, every call also leaks an N-byte native array (never closed):
 * a control that shows the measurement sees a leak of that size. Targets:
 *
 * <ul>
 *   <li>{@code block}: a {@link MultiHeadAttentionBlock} (E=16, H=4, G=2, causal) through one DJL
 *       {@link Predictor}, inputs x (2, 8, 16) and a boolean mask (8, 8) made in a sub-manager per
 *       call.
 *   <li>{@code ort}: an {@code OrtRunner} on {@code models/seed_self_attention/model.onnx} (or the
 *       given model), input x (2, 5, 8), outputs in a sub-manager per call.
 *   <li>{@code fast}: {@link Attention#attention} without weights on float32 q, k, v (1, 4, 96, 32)
 *       with the causal mask, made in a sub-manager per call: the native kernel where the machine
 *       has it, with 2 threads (its helper thread included).
 * </ul>
 *
 * <p>Prints {@code key=value} lines; the last one starts with {@code result} and gives the growth
 * from the end of warm-up to the peak ({@code growth_kib}) and over the second half of the calls
 * ({@code second_half_growth_kib}, the slope a leak shows). Every tenth of the calls prints a
 * {@code sample} line. The caller fixes the Java heap ({@code -Xms} = {@code -Xmx}) so that heap
 * growth does not show as native growth.
 */
public final class NativeMemoryProbe {

  /**
   * One forward call; implementations read the outputs back so that the work is done. A target that
   * names a class (as {@code ort} names {@code io.github.djlattention.ort.OrtProbeCall} in the onnx
   * module's tests) implements this with a public constructor taking the model path.
   */
  public interface Call extends AutoCloseable {
    void run(int iteration);

    @Override
    void close();
  }

  private NativeMemoryProbe() {}

  /**
   * Runs the probe.
   *
   * @param args target, calls, warm-up calls, optional model path
   * @throws Exception when the target cannot be set up
   */
  public static void main(String[] args) throws Exception {
    if (args.length < 3) {
      System.err.println("usage: NativeMemoryProbe block|ort|fast CALLS WARMUP [MODEL.onnx]");
      System.exit(2);
    }
    // One PyTorch thread: on a shared machine the default thread pools spin and slow each call
    // tenfold; the measurement is about memory, not speed.
    String target = args[0];
    setIfAbsent("ai.djl.pytorch.num_threads", "fast".equals(target) ? "2" : "1");
    setIfAbsent("ai.djl.pytorch.num_interop_threads", "1");
    setIfAbsent("ai.djl.offline", "true");
    int calls = Integer.parseInt(args[1]);
    int warmup = Integer.parseInt(args[2]);
    Path model = Paths.get(args.length > 3 ? args[3] : "models/seed_self_attention/model.onnx");
    int leakFloats = Integer.getInteger("probe.leakBytes", 0) / 4;
    try (Call call = call(target, model);
        NDManager leaks = NDManager.newBaseManager("PyTorch")) {
      for (int i = 0; i < warmup; i++) {
        call.run(i);
      }
      System.gc();
      long start = ResidentMemory.residentKib();
      long peak = start;
      long half = start;
      long began = System.nanoTime();
      System.out.printf(
          Locale.ROOT,
          "target=%s calls=%d warmup=%d leak_bytes_per_call=%d%n",
          target,
          calls,
          warmup,
          4 * leakFloats);
      System.out.printf(Locale.ROOT, "rss_after_warmup_kib=%d%n", start);
      for (int i = 0; i < calls; i++) {
        call.run(warmup + i);
        if (leakFloats > 0) {
          leaks.create(new float[leakFloats]); // deliberately never closed until the end
        }
        if (i + 1 == calls / 2) {
          half = ResidentMemory.residentKib();
        }
        if ((i + 1) % Math.max(1, calls / 10) == 0) {
          long rss = ResidentMemory.residentKib();
          peak = Math.max(peak, rss);
          System.out.printf(Locale.ROOT, "sample calls=%d rss_kib=%d%n", i + 1, rss);
        }
      }
      System.gc();
      long end = ResidentMemory.residentKib();
      double seconds = (System.nanoTime() - began) / 1e9;
      System.out.printf(
          Locale.ROOT,
          "result target=%s calls=%d rss_after_warmup_kib=%d rss_end_kib=%d rss_peak_kib=%d"
              + " growth_kib=%d second_half_growth_kib=%d seconds=%.1f%n",
          target,
          calls,
          start,
          end,
          peak,
          Math.max(end, peak) - start,
          end - half,
          seconds);
    }
  }

  private static Call call(String target, Path model) throws ReflectiveOperationException {
    switch (target) {
      case "fast":
        return new FastCall();
      case "block":
        return new BlockCall();
      case "ort":
        // The ONNX Runtime target lives with the runner, in the onnx module's tests.
        return (Call)
            Class.forName("io.github.djlattention.ort.OrtProbeCall")
                .getConstructor(Path.class)
                .newInstance(model);
      default:
        throw new IllegalArgumentException("unknown target " + target);
    }
  }

  private static void setIfAbsent(String key, String value) {
    if (System.getProperty(key) == null) {
      System.setProperty(key, value);
    }
  }

  /** A multi-head attention block run through a predictor. */
  private static final class BlockCall implements Call {
    private final Model model;
    private final Predictor<NDList, NDList> predictor;
    private final NDManager inputs;
    private final float[] x = new float[2 * 8 * 16];

    BlockCall() {
      MultiHeadAttentionBlock block =
          MultiHeadAttentionBlock.builder()
              .setEmbeddingSize(16)
              .setHeads(4)
              .optKvHeads(2)
              .optCausal(true)
              .optAttentionWeights(AttentionWeights.AVERAGED)
              .build();
      model = Model.newInstance("native-memory", "PyTorch");
      model.setBlock(block);
      block.initialize(model.getNDManager(), DataType.FLOAT32, new Shape(2, 8, 16));
      predictor = model.newPredictor(new NoopTranslator());
      inputs = NDManager.newBaseManager("PyTorch");
      Random random = new Random(42);
      for (int n = 0; n < x.length; n++) {
        x[n] = random.nextFloat() * 2 - 1;
      }
    }

    @Override
    public void run(int iteration) {
      try (NDManager scope = inputs.newSubManager()) {
        x[iteration % x.length] += 1e-3f;
        NDArray mask = scope.ones(new Shape(8, 8), DataType.BOOLEAN);
        NDList out = predictor.predict(new NDList(scope.create(x, new Shape(2, 8, 16)), mask));
        if (out.get(0).toFloatArray().length != x.length) {
          throw new IllegalStateException("unexpected output " + out.get(0).getShape());
        }
        out.close();
      } catch (TranslateException e) {
        throw new IllegalStateException(e);
      }
    }

    @Override
    public void close() {
      inputs.close();
      predictor.close();
      model.close();
    }
  }

  /** The functional fast path (the native kernel where available). */
  private static final class FastCall implements Call {
    private final NDManager manager = NDManager.newBaseManager("PyTorch");
    private final float[] data = new float[4 * 96 * 32];
    private final AttentionOptions options =
        AttentionOptions.builder().optCausal(true).optReturnWeights(false).build();

    FastCall() {
      Random random = new Random(44);
      for (int n = 0; n < data.length; n++) {
        data[n] = random.nextFloat() * 2 - 1;
      }
    }

    @Override
    public void run(int iteration) {
      try (NDManager scope = manager.newSubManager()) {
        data[iteration % data.length] += 1e-3f;
        Shape shape = new Shape(1, 4, 96, 32);
        NDArray q = scope.create(data, shape);
        NDArray out = Attention.attention(q, q, q, options).output();
        if (out.toFloatArray().length != data.length) {
          throw new IllegalStateException("unexpected output " + out.getShape());
        }
      }
    }

    @Override
    public void close() {
      manager.close();
    }
  }
}
