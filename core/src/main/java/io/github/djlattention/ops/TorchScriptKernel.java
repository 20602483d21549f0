package io.github.djlattention.ops;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDList;
import ai.djl.ndarray.NDManager;
import ai.djl.pytorch.engine.PtNDArray;
import ai.djl.pytorch.engine.PtNDManager;
import ai.djl.pytorch.engine.PtSymbolBlock;
import ai.djl.pytorch.jni.IValue;
import ai.djl.pytorch.jni.IValueUtils;
import ai.djl.pytorch.jni.JniUtils;
import io.github.djlattention.ops.FastAttention.Precision;
import java.io.ByteArrayInputStream;
import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.InputStream;
import java.io.UncheckedIOException;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.List;
import java.util.zip.CRC32;
import java.util.zip.ZipEntry;
import java.util.zip.ZipOutputStream;

/**
 * The PyTorch-engine kernel of {@link FastAttention}: a TorchScript module whose source, {@code
 * fast_attention.py} next to this class, is compiled by libtorch when it loads. It reaches what
 * DJL's NDArray API does not expose: libtorch's fused {@code scaled_dot_product_attention} (a
 * tiled, flash-style CPU kernel), in-place {@code tanh_}/{@code masked_fill_}, and bfloat16
 * tensors; and it runs the whole attention as one native call.
 *
 * <p>The module is packed in memory as a TorchScript archive (a zip of the source, two tiny pickles
 * and a version record) and loaded once per process. No Python is involved.
 *
 * <p>Shape legend: B batch, H query heads, G key/value heads, S query length, T key/value length, D
 * head size, Dv value head size.
 */
final class TorchScriptKernel extends TensorKernel {

  /**
   * The module in inference mode: libtorch's fused kernel for plain, masked, causal and
   * grouped-query attention, its tiled loop of in-place ops for softcap and for a mask combined
   * with the causal mask; bfloat16 products on request. Records no gradients.
   */
  static final TorchScriptKernel INFERENCE = new TorchScriptKernel(false);

  /**
   * libtorch's fused kernel run with autograd recording (the module's {@code differentiable}
   * method): for calls that record gradients, without softcap or bfloat16. {@code
   * -Ddjl.attention.autograd=chain} keeps the dispatcher from picking it.
   */
  static final TorchScriptKernel AUTOGRAD = new TorchScriptKernel(true);

  private static final String SOURCE = "fast_attention.py";
  private static final String CLASS_NAME = "FastAttention";

  /** DJL's switch for libtorch's graph optimizer, which it applies on every module call. */
  private static final String GRAPH_OPTIMIZER_PROPERTY = "ai.djl.pytorch.graph_optimizer";

  /** Holds the module, loaded on first use (the holder idiom keeps loading lazy and safe). */
  private static final class Holder {
    private static final PtNDManager MANAGER = (PtNDManager) NDManager.newBaseManager("PyTorch");
    private static final PtSymbolBlock MODULE = load();

    private static PtSymbolBlock load() {
      try (InputStream archive = new ByteArrayInputStream(archive(source()))) {
        return JniUtils.loadModule(MANAGER, archive, false, false);
      } catch (IOException e) {
        throw new UncheckedIOException("could not load the fast attention TorchScript module", e);
      }
    }
  }

  private final boolean differentiable;

  private TorchScriptKernel(boolean differentiable) {
    this.differentiable = differentiable;
  }

  @Override
  public String name() {
    return differentiable ? "TORCHSCRIPT_AUTOGRAD" : "TORCHSCRIPT";
  }

  @Override
  public boolean recordsGradients() {
    return differentiable;
  }

  @Override
  public String unsupported(AttentionCall call) {
    if (call.positional()) {
      return "the " + name() + " kernel takes no valid key counts or sliding window";
    }
    if (differentiable) {
      if (!call.pytorch() || call.softcap() != null || call.precision() != Precision.INPUT) {
        return "the TORCHSCRIPT_AUTOGRAD kernel takes PyTorch-engine arrays without softcap or"
            + " bfloat16";
      }
      return null;
    }
    if (!call.pytorch()) {
      return "the TorchScript kernel needs PyTorch-engine arrays, got "
          + call.inputs().query().getClass();
    }
    return null;
  }

  /**
   * The fused kernel with autograd is picked for calls that record gradients only (inference takes
   * {@link #INFERENCE}), and not with {@code -Ddjl.attention.autograd=chain}.
   */
  @Override
  public boolean preferredFor(AttentionCall call) {
    return !differentiable || (call.records() && FastAttention.AUTOGRAD_FUSED_BY_DEFAULT);
  }

  @Override
  NDArray run(Tensors t, AttentionCall call, NDManager scope) {
    if (differentiable) {
      return runDifferentiable(
          t.query(), t.key(), t.value(), t.mask(), call.causal(), call.scale());
    }
    return run(
        t.query(),
        t.key(),
        t.value(),
        t.mask(),
        call.causal(),
        call.scale(),
        call.softcap(),
        call.bfloat16(),
        FastAttention.tileRows(call.shape(), call.tileElements()),
        scope);
  }

  /** Returns whether every array lives in the PyTorch engine, so the kernel can take them. */
  static boolean accepts(NDArray... arrays) {
    for (NDArray array : arrays) {
      if (array != null && !(array instanceof PtNDArray)) {
        return false;
      }
    }
    return true;
  }

  /**
   * Runs the attention.
   *
   * @param query (B, H, S, D) in the compute type
   * @param key (B, G, T, D)
   * @param value (B, G, T, Dv)
   * @param mask broadcastable to (B, H, S, T): boolean, or additive in the compute type; or null
   * @param causal whether query i sees only keys j ≤ i
   * @param scale the score factor
   * @param softcap the softcap, or null
   * @param bfloat16 whether the matrix products run in bfloat16
   * @param tileRows the query rows per tile of the tiled loop (softcap, or mask with causal)
   * @param manager the manager of the result
   * @return the output (B, H, S, Dv) in the query's dtype
   */
  static NDArray run(
      NDArray query,
      NDArray key,
      NDArray value,
      NDArray mask,
      boolean causal,
      double scale,
      Double softcap,
      boolean bfloat16,
      long tileRows,
      NDManager manager) {
    PtNDArray maskOrPlaceholder =
        mask != null ? (PtNDArray) mask : (PtNDArray) query.getManager().create(false);
    List<IValue> inputs = new ArrayList<>();
    try {
      inputs.add(IValue.from((PtNDArray) query));
      inputs.add(IValue.from((PtNDArray) key));
      inputs.add(IValue.from((PtNDArray) value));
      inputs.add(IValue.from(maskOrPlaceholder));
      inputs.add(IValue.from(mask != null));
      inputs.add(IValue.from(causal));
      inputs.add(IValue.from(scale));
      inputs.add(IValue.from(softcap == null ? 0.0 : softcap));
      inputs.add(IValue.from(bfloat16));
      inputs.add(IValue.from(tileRows));
      // The profiling graph executor re-specializes the graph per shape and adds ~0.2 ms a call;
      // the kernel is a handful of large ops, so the plain interpreter is faster. The setting is
      // per thread in libtorch: put back the default (or DJL's property) afterwards.
      JniUtils.setGraphExecutorOptimize(false);
      IValue result;
      try {
        result = Holder.MODULE.forward(inputs.toArray(new IValue[0]));
      } finally {
        JniUtils.setGraphExecutorOptimize(
            Boolean.parseBoolean(System.getProperty(GRAPH_OPTIMIZER_PROPERTY, "true")));
      }
      try {
        return result.toTensor((PtNDManager) manager);
      } finally {
        result.close();
      }
    } finally {
      for (IValue input : inputs) {
        input.close();
      }
      if (mask == null) {
        maskOrPlaceholder.close();
      }
    }
  }

  /**
   * Runs the attention through libtorch's fused kernel with autograd recording: DJL runs the
   * module's {@code differentiable} method in training mode, so the output carries the gradient of
   * query, key and value (and of a float mask) back to the caller's graph.
   *
   * @param query (B, H, S, D) in the compute type
   * @param key (B, G, T, D)
   * @param value (B, G, T, Dv)
   * @param mask broadcastable to (B, H, S, T): boolean, or additive in the compute type; or null
   * @param causal whether query i sees only keys j ≤ i
   * @param scale the score factor
   * @return the output (B, H, S, Dv), in the query's manager
   */
  static NDArray runDifferentiable(
      NDArray query, NDArray key, NDArray value, NDArray mask, boolean causal, double scale) {
    NDManager manager = query.getManager();
    NDArray settings = manager.create(new double[] {mask != null ? 1 : 0, causal ? 1 : 0, scale});
    NDArray method = manager.create(0f);
    method.setName("module_method:differentiable"); // DJL's way to pick a module method
    NDList inputs =
        new NDList(
            query, key, value, mask != null ? mask : manager.create(false), settings, method);
    JniUtils.setGraphExecutorOptimize(false); // as in run: the plain interpreter, per thread
    try {
      return IValueUtils.forward(Holder.MODULE, inputs, true).singletonOrThrow();
    } finally {
      JniUtils.setGraphExecutorOptimize(
          Boolean.parseBoolean(System.getProperty(GRAPH_OPTIMIZER_PROPERTY, "true")));
    }
  }

  /**
   * Returns whether autograd tracks any of the arrays: a leaf that requires a gradient, or the
   * result of an op recorded on one. (DJL's {@code hasGradient()} answers for leaves only.)
   *
   * @param query a PyTorch-engine array
   * @param key a PyTorch-engine array
   * @param value a PyTorch-engine array
   * @param mask a PyTorch-engine array, or null
   * @return whether a gradient can flow back into any of them
   */
  static boolean requiresGrad(NDArray query, NDArray key, NDArray value, NDArray mask) {
    List<IValue> inputs = new ArrayList<>(4);
    try {
      inputs.add(IValue.from((PtNDArray) query));
      inputs.add(IValue.from((PtNDArray) key));
      inputs.add(IValue.from((PtNDArray) value));
      inputs.add(IValue.from((PtNDArray) (mask == null ? query : mask)));
      try (IValue result =
          IValueUtils.runMethod(Holder.MODULE, "requires_grad", inputs.toArray(new IValue[0]))) {
        return result.toBoolean();
      }
    } finally {
      for (IValue input : inputs) {
        input.close();
      }
    }
  }

  private static String source() {
    try (InputStream in = TorchScriptKernel.class.getResourceAsStream(SOURCE)) {
      if (in == null) {
        throw new IllegalStateException(
            "missing resource " + SOURCE + " next to TorchScriptKernel");
      }
      return new String(in.readAllBytes(), StandardCharsets.UTF_8);
    } catch (IOException e) {
      throw new UncheckedIOException(e);
    }
  }

  /**
   * Packs TorchScript source as a module archive: {@code data.pkl} (the pickled module object, a
   * {@code __torch__.FastAttention} with {@code training = True}), the source under {@code code/},
   * an empty constants table and the format version.
   */
  static byte[] archive(String source) throws IOException {
    ByteArrayOutputStream bytes = new ByteArrayOutputStream();
    try (ZipOutputStream zip = new ZipOutputStream(bytes)) {
      store(zip, "archive/data.pkl", modulePickle());
      store(zip, "archive/code/__torch__.py", source.getBytes(StandardCharsets.UTF_8));
      store(zip, "archive/constants.pkl", new byte[] {(byte) 0x80, 2, ')', '.'});
      store(zip, "archive/version", "3\n".getBytes(StandardCharsets.US_ASCII));
    }
    return bytes.toByteArray();
  }

  /** Pickle protocol 2: {@code __torch__.FastAttention.__new__()} with {"training": True}. */
  private static byte[] modulePickle() {
    ByteArrayOutputStream pickle = new ByteArrayOutputStream();
    pickle.writeBytes(new byte[] {(byte) 0x80, 2}); // PROTO 2
    pickle.writeBytes(("c__torch__\n" + CLASS_NAME + "\n").getBytes(StandardCharsets.US_ASCII));
    pickle.writeBytes(
        new byte[] {')', (byte) 0x81, '}', '('}); // EMPTY_TUPLE NEWOBJ EMPTY_DICT MARK
    byte[] field = "training".getBytes(StandardCharsets.US_ASCII);
    pickle.write('X'); // BINUNICODE, little-endian length
    pickle.writeBytes(new byte[] {(byte) field.length, 0, 0, 0});
    pickle.writeBytes(field);
    pickle.writeBytes(new byte[] {(byte) 0x88, 'u', 'b', '.'}); // True SETITEMS BUILD STOP
    return pickle.toByteArray();
  }

  private static void store(ZipOutputStream zip, String name, byte[] data) throws IOException {
    ZipEntry entry = new ZipEntry(name);
    entry.setMethod(ZipEntry.STORED);
    entry.setSize(data.length);
    entry.setCompressedSize(data.length);
    CRC32 crc = new CRC32();
    crc.update(data);
    entry.setCrc(crc.getValue());
    zip.putNextEntry(entry);
    zip.write(data);
    zip.closeEntry();
  }
}
