package io.github.djlattention.conformance;

import ai.djl.Device;
import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.DataType;
import ai.djl.ndarray.types.Shape;
import ai.onnx.proto.OnnxMl.TensorProto;
import io.github.djlattention.onnx.OnnxTensors;
import io.github.djlattention.ops.Attention;
import io.github.djlattention.ops.AttentionOptions;
import io.github.djlattention.ops.AttentionResult;
import io.github.djlattention.ops.FastAttention;
import io.github.djlattention.ops.ScoresOutput;
import java.util.LinkedHashMap;
import java.util.Map;
import java.util.Optional;

/**
 * Computes an ONNX {@code Attention} case with the project's {@link Attention#attention} on DJL
 * (PyTorch engine): {@code djl} asks for the weights too (the step-by-step chain), {@code djl-fast}
 * ({@link #fastPath}) for the output alone, which takes the fast path ({@link FastAttention}: the
 * native kernel where it applies, libtorch's fused kernel otherwise) and leaves out the cases that
 * path does not implement.
 *
 * <p>The mapping from the operator to the library: 3-D inputs (B, S, H·D) with {@code q_num_heads}
 * and {@code kv_num_heads} become (B, H, S, D); {@code past_key}/{@code past_value} become the KV
 * cache; {@code nonpad_kv_seqlen} the valid key counts; the window sizes the sliding window; {@code
 * softmax_precision} the softmax type; {@code qk_matmul_output_mode} the scores output. A mask
 * shorter than the key length is padded on the right with "hidden" (false or −∞), as the operator
 * defines.
 *
 * <p>Shape legend: B batch, H query heads, G key/value heads, S query length, T key length
 * (including the cache), D head size, Dv value head size.
 */
public final class DjlAttentionImplementation implements Implementation<OnnxAttentionCase> {

  /** This implementation's name in reports. */
  public static final String NAME = "djl";

  /** The fast path's name in reports. */
  public static final String FAST_NAME = "djl-fast";

  private final String name;
  private final Device device;
  private final AttentionFunction function;
  private final boolean fast;

  /** The attention function under test; replaceable to prove that the suite catches errors. */
  @FunctionalInterface
  public interface AttentionFunction {
    /**
     * Computes attention.
     *
     * @param query (B, H, S, D)
     * @param key (B, G, T', D)
     * @param value (B, G, T', Dv)
     * @param options the options
     * @return the result
     */
    AttentionResult apply(NDArray query, NDArray key, NDArray value, AttentionOptions options);
  }

  /**
   * The project's implementation on a device.
   *
   * @param device where DJL computes, e.g. {@link Device#cpu()}
   */
  public DjlAttentionImplementation(Device device) {
    this(device, Attention::attention);
  }

  /**
   * An implementation that calls another attention function, e.g. a deliberately broken one.
   *
   * @param device where DJL computes
   * @param function the attention function
   */
  public DjlAttentionImplementation(Device device, AttentionFunction function) {
    this(NAME, device, function, false);
  }

  private DjlAttentionImplementation(
      String name, Device device, AttentionFunction function, boolean fast) {
    this.name = name;
    this.device = device;
    this.function = function;
    this.fast = fast;
  }

  /**
   * The project's fast path on a device: the same call without the weights.
   *
   * @param device where DJL computes
   * @return the implementation, named {@value #FAST_NAME}
   */
  public static DjlAttentionImplementation fastPath(Device device) {
    return new DjlAttentionImplementation(FAST_NAME, device, Attention::attention, true);
  }

  @Override
  public String name() {
    return name;
  }

  @Override
  public Optional<String> notApplicable(OnnxAttentionCase testCase) {
    if (!fast) {
      return Optional.empty();
    }
    try (NDManager work = NDManager.newBaseManager(device)) {
      Call call = prepare(testCase, work);
      return FastAttention.handles(call.query(), call.key(), call.value(), call.options())
          ? Optional.empty()
          : Optional.of("the fast path does not implement this case's settings");
    }
  }

  /** A case as the library's arguments. */
  private record Call(
      NDArray query,
      NDArray key,
      NDArray value,
      AttentionOptions options,
      boolean threeD,
      Optional<NDArray> pastKey,
      Optional<NDArray> pastValue,
      Optional<String> scoresName) {}

  @Override
  public CaseOutputs run(OnnxAttentionCase testCase, NDManager manager) {
    try (NDManager work = NDManager.newBaseManager(device)) {
      Call call = prepare(testCase, work);
      AttentionResult result =
          function.apply(call.query(), call.key(), call.value(), call.options());

      Map<String, NDArray> outputs = new LinkedHashMap<>();
      NDArray y = call.threeD() ? mergeHeads(result.output()) : result.output();
      testCase.outputName("Y").ifPresent(name -> outputs.put(name, copy(y, manager)));
      NDArray presentKey = call.pastKey().isPresent() ? result.presentKey() : call.key();
      NDArray presentValue = call.pastValue().isPresent() ? result.presentValue() : call.value();
      testCase
          .outputName("present_key")
          .ifPresent(name -> outputs.put(name, copy(presentKey, manager)));
      testCase
          .outputName("present_value")
          .ifPresent(name -> outputs.put(name, copy(presentValue, manager)));
      call.scoresName().ifPresent(name -> outputs.put(name, copy(result.scores(), manager)));
      Optional<NDArray> weights =
          result.hasWeights() ? Optional.of(copy(result.weights(), manager)) : Optional.empty();
      return new CaseOutputs(outputs, weights);
    }
  }

  /** Loads the case's inputs into {@code work} and maps its attributes to options. */
  private Call prepare(OnnxAttentionCase testCase, NDManager work) {
    AttentionAttributes attributes = testCase.attributes();
    NDArray q = load(testCase, "Q", work).orElseThrow();
    NDArray k = load(testCase, "K", work).orElseThrow();
    NDArray v = load(testCase, "V", work).orElseThrow();
    boolean threeD = q.getShape().dimension() == 3;
    if (threeD) {
      int qHeads = heads(testCase, attributes.qNumHeads(), "q_num_heads");
      int kvHeads = heads(testCase, attributes.kvNumHeads(), "kv_num_heads");
      q = splitHeads(q, qHeads); // (B, H, S, D)
      k = splitHeads(k, kvHeads); // (B, G, T', D)
      v = splitHeads(v, kvHeads); // (B, G, T', Dv)
    }
    Optional<NDArray> pastKey = load(testCase, "past_key", work);
    Optional<NDArray> pastValue = load(testCase, "past_value", work);
    long totalLength = k.getShape().get(2) + pastKey.map(p -> p.getShape().get(2)).orElse(0L);

    AttentionOptions.Builder options =
        AttentionOptions.builder()
            .optCausal(attributes.causal())
            .optSoftcap(attributes.softcap())
            .optWindow(attributes.leftWindowSize(), attributes.rightWindowSize());
    attributes.scale().ifPresent(options::optScale);
    load(testCase, "attn_mask", work).map(m -> padMask(m, totalLength)).ifPresent(options::optMask);
    if (pastKey.isPresent() || pastValue.isPresent()) {
      options.optKvCache(pastKey.orElse(null), pastValue.orElse(null));
    }
    load(testCase, "nonpad_kv_seqlen", work).ifPresent(options::optNonPadKeyLengths);
    attributes.softmaxPrecision().ifPresent(p -> options.optSoftmaxPrecision(softmaxType(p)));
    Optional<String> qkName = testCase.outputName("qk_matmul_output");
    if (qkName.isPresent()) {
      options.optScoresOutput(ScoresOutput.ofOnnxMode(attributes.qkMatmulOutputMode()));
    }
    if (fast) {
      options.optReturnWeights(false);
    }
    return new Call(q, k, v, options.build(), threeD, pastKey, pastValue, qkName);
  }

  private static Optional<NDArray> load(OnnxAttentionCase testCase, String slot, NDManager work) {
    Optional<TensorProto> tensor = testCase.input(slot);
    return tensor.map(t -> io.github.djlattention.onnx.OnnxTensors.toNDArray(t, work));
  }

  private static int heads(
      OnnxAttentionCase testCase, java.util.OptionalInt value, String attribute) {
    if (value.isEmpty()) {
      throw new IllegalArgumentException(
          testCase.name() + ": 3-D inputs need the " + attribute + " attribute");
    }
    return value.getAsInt();
  }

  /** (B, S, H·D) to (B, H, S, D). */
  private static NDArray splitHeads(NDArray x, int heads) {
    Shape s = x.getShape();
    return x.reshape(s.get(0), s.get(1), heads, s.get(2) / heads) // (B, S, H, D)
        .transpose(0, 2, 1, 3); // (B, H, S, D)
  }

  /** (B, H, S, Dv) to (B, S, H·Dv). */
  private static NDArray mergeHeads(NDArray x) {
    Shape s = x.getShape();
    return x.transpose(0, 2, 1, 3) // (B, S, H, Dv)
        .reshape(s.get(0), s.get(2), s.get(1) * s.get(3)); // (B, S, H·Dv)
  }

  /** Pads the mask's last axis to T with hidden keys (false, or −∞ for a float mask). */
  private static NDArray padMask(NDArray mask, long totalLength) {
    Shape s = mask.getShape();
    long missing = totalLength - s.get(s.dimension() - 1);
    if (missing <= 0) {
      return mask;
    }
    long[] padShape = s.getShape().clone();
    padShape[padShape.length - 1] = missing;
    NDArray pad =
        mask.getDataType() == DataType.BOOLEAN
            ? mask.getManager().zeros(new Shape(padShape), DataType.BOOLEAN)
            : mask.getManager()
                .full(new Shape(padShape), Float.NEGATIVE_INFINITY)
                .toType(mask.getDataType(), false);
    return mask.concat(pad, s.dimension() - 1); // (…, T)
  }

  /** The DJL type of a {@code softmax_precision}: float, float16 or double. */
  private static DataType softmaxType(int onnxType) {
    if (onnxType != TensorProto.DataType.FLOAT_VALUE
        && onnxType != TensorProto.DataType.FLOAT16_VALUE
        && onnxType != TensorProto.DataType.DOUBLE_VALUE) {
      throw new IllegalArgumentException("unsupported softmax_precision " + onnxType);
    }
    return OnnxTensors.dataType(onnxType);
  }

  /** Copies an array into the caller's manager on the CPU. */
  private static NDArray copy(NDArray array, NDManager manager) {
    NDArray copied = array.toDevice(Device.cpu(), true);
    copied.attach(manager);
    return copied;
  }
}
