package io.github.djlattention.conformance;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDList;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.DataType;
import ai.djl.nn.AbstractBlock;
import ai.djl.training.ParameterStore;
import ai.onnx.proto.OnnxMl.ModelProto;
import ai.onnx.proto.OnnxMl.StringStringEntryProto;
import ai.onnxruntime.OrtLoggingLevel;
import com.google.protobuf.InvalidProtocolBufferException;
import io.github.djlattention.blocks.AttentionWeights;
import io.github.djlattention.blocks.MultiHeadAttentionBlock;
import io.github.djlattention.blocks.StateDicts;
import io.github.djlattention.compare.Tolerance;
import io.github.djlattention.io.InputLimits;
import io.github.djlattention.io.Npz;
import io.github.djlattention.onnx.OnnxConstants;
import io.github.djlattention.ort.OrtDevice;
import io.github.djlattention.ort.OrtRunner;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.Set;

/**
 * Checks an ONNX model of an attention module against the project's DJL block: the block is built
 * from the module's PyTorch state dict ({@link StateDicts}), both run on the same inputs (the model
 * on ONNX Runtime), and their outputs are compared with each other and, when given, with expected
 * outputs. What the command line's {@code check} runs.
 *
 * <p>The number of heads and the causal flag are not in a state dict: they come from {@link
 * Builder#optHeads} and {@link Builder#optCausal}, or, for a model written by the exporter, from
 * its metadata. The inputs' names must be exactly the model's input names; the block gets them in
 * the model's input order ({@code x} or {@code query, key, value}, then {@code attn_mask}). A bool
 * {@code attn_mask} is read the library's way (true = attend), a float one is added to the scores.
 * The block's outputs are named {@code output} and {@code weights}.
 *
 * <p>Pairs ({@link #DJL_VS_ORT}, and with expected outputs {@link #DJL_VS_EXPECTED} and {@link
 * #ORT_VS_EXPECTED}) compare the outputs both sides have, element by element ({@link Comparison},
 * under {@code new Tolerance(0, atol)}: NaN never agrees, an infinity only with the same infinity).
 * A pair passes when it has an output in common and every one agrees.
 *
 * <pre>{@code
 * ModelCheck.Result result =
 *     ModelCheck.builder()
 *         .setModel(Path.of("model.onnx"))
 *         .setWeights(Path.of("state_dict.npz"))
 *         .setInputs(Path.of("inputs.npz"))
 *         .optExpected(Path.of("outputs.npz"))
 *         .optHeads(4)
 *         .build()
 *         .run();
 * boolean ok = result.passed();
 * }</pre>
 */
public final class ModelCheck {

  /** The pair of the DJL block's outputs (actual) against ONNX Runtime's (reference). */
  public static final String DJL_VS_ORT = "djl_vs_ort";

  /** The pair of the DJL block's outputs against the expected ones. */
  public static final String DJL_VS_EXPECTED = "djl_vs_expected";

  /** The pair of ONNX Runtime's outputs against the expected ones. */
  public static final String ORT_VS_EXPECTED = "ort_vs_expected";

  /** The default absolute tolerance, for float32. */
  public static final double DEFAULT_ATOL = 1e-4;

  private final Path model;
  private final Path weights;
  private final Path inputs;
  private final Path expected;
  private final Integer heads;
  private final boolean causal;
  private final OrtDevice device;
  private final Tolerance tolerance;
  private final Duration timeout;

  private ModelCheck(Builder builder) {
    this.model = builder.model;
    this.weights = builder.weights;
    this.inputs = builder.inputs;
    this.expected = builder.expected;
    this.heads = builder.heads;
    this.causal = builder.causal;
    this.device = builder.device;
    this.tolerance = new Tolerance(0, builder.atol);
    this.timeout = builder.timeout;
  }

  /**
   * A new builder; {@code setX} settings are required.
   *
   * @return the builder
   */
  public static Builder builder() {
    return new Builder();
  }

  /**
   * One pair's comparisons.
   *
   * @param name e.g. {@link #DJL_VS_ORT}
   * @param outputs one comparison per output both sides have, in the first side's order; the second
   *     side is the expected one (the denominator of the relative error)
   */
  public record Pair(String name, List<Comparison> outputs) {

    /**
     * Copies the list.
     *
     * @throws IllegalArgumentException if an argument is null
     */
    public Pair {
      if (name == null || outputs == null) {
        throw new IllegalArgumentException("pair fields must not be null");
      }
      outputs = List.copyOf(outputs);
    }

    /**
     * Whether the pair has an output in common and every one agrees.
     *
     * @return true when the pair passes
     */
    public boolean passed() {
      return !outputs.isEmpty() && outputs.stream().allMatch(Comparison::agrees);
    }

    /**
     * The output that disagrees most: a shape mismatch or a NaN/infinity mismatch first, then the
     * largest absolute error.
     *
     * @return the worst output, empty when the pair has none
     */
    public Optional<Comparison> worst() {
      Comparison worst = null;
      for (Comparison c : outputs) {
        if (worst == null || score(c) > score(worst)) {
          worst = c;
        }
      }
      return Optional.ofNullable(worst);
    }

    private static double score(Comparison c) {
      return !c.elements().sameShape() || c.elements().nonFiniteMismatches() > 0
          ? Double.POSITIVE_INFINITY
          : c.elements().statistics().maxAbsError();
    }
  }

  /**
   * What a check found.
   *
   * @param block the block built from the weights, e.g. {@code MultiHeadAttentionBlock(E=16, ...)}
   * @param device where ONNX Runtime ran
   * @param tolerance the tolerance of every comparison
   * @param pairs the pairs by name, {@link #DJL_VS_ORT} first
   */
  public record Result(
      String block, OrtDevice device, Tolerance tolerance, Map<String, Pair> pairs) {

    /**
     * Copies the map, keeping its order.
     *
     * @throws IllegalArgumentException if an argument is null
     */
    public Result {
      if (block == null || device == null || tolerance == null || pairs == null) {
        throw new IllegalArgumentException("result fields must not be null");
      }
      pairs = java.util.Collections.unmodifiableMap(new LinkedHashMap<>(pairs));
    }

    /**
     * Whether every pair passes.
     *
     * @return true when all agree
     */
    public boolean passed() {
      return pairs.values().stream().allMatch(Pair::passed);
    }
  }

  /**
   * Reads the files, builds the block, runs both sides and compares them.
   *
   * @return what the check found
   * @throws IllegalArgumentException for a file that is missing or malformed, weights that make no
   *     block, inputs that do not match the model or the block, a model that ONNX Runtime refuses
   *     or cannot run on the inputs, or a run past the timeout
   * @throws IllegalStateException when ONNX Runtime fails otherwise, or the device is unusable
   * @throws java.io.UncheckedIOException when a file cannot be read
   */
  public Result run() {
    Map<String, String> metadata =
        metadata(InputLimits.readFile(model, InputLimits.Limit.MODEL_BYTES));
    int headCount = heads != null ? heads : intOr(metadata.get(key("heads")), 0);
    boolean isCausal = causal || Boolean.parseBoolean(metadata.get(key("causal")));
    try (NDManager manager = NDManager.newBaseManager("PyTorch");
        // FATAL, as on every ONNX Runtime path of the suites: a failing kernel would also log on
        // the process's stderr, and the exception already carries ONNX Runtime's message.
        OrtRunner runner =
            OrtRunner.builder()
                .optDevice(device)
                .optLogLevel(OrtLoggingLevel.ORT_LOGGING_LEVEL_FATAL)
                .optTimeout(timeout)
                // from its path, so external data is read from beside the model, and only there
                .build(model)) {
      Map<String, NDArray> given = Npz.read(manager, inputs);
      List<String> inputNames = runner.inputNames();
      requireSameNames(given.keySet(), inputNames);
      given.forEach(ModelCheck::requireFloat32OrBool);
      given.forEach(ModelCheck::requireNoEmptyAxis);
      AbstractBlock block =
          StateDicts.load(
              manager, Npz.read(manager, weights), headCount, isCausal, AttentionWeights.AVERAGED);
      Map<String, NDArray> expectedOutputs = expected == null ? null : Npz.read(manager, expected);

      Map<String, NDArray> djl = runBlock(block, given, inputNames, manager);
      Map<String, NDArray> ort = runner.run(given, manager);
      Map<String, Pair> pairs = new LinkedHashMap<>();
      pairs.put(DJL_VS_ORT, compare(DJL_VS_ORT, djl, ort));
      if (expectedOutputs != null) {
        pairs.put(DJL_VS_EXPECTED, compare(DJL_VS_EXPECTED, djl, expectedOutputs));
        pairs.put(ORT_VS_EXPECTED, compare(ORT_VS_EXPECTED, ort, expectedOutputs));
      }
      return new Result(block.toString(), device, tolerance, pairs);
    }
  }

  private Map<String, String> metadata(byte[] bytes) {
    try {
      Map<String, String> metadata = new LinkedHashMap<>();
      for (StringStringEntryProto entry : ModelProto.parseFrom(bytes).getMetadataPropsList()) {
        metadata.put(entry.getKey(), entry.getValue());
      }
      return metadata;
    } catch (InvalidProtocolBufferException e) {
      throw new IllegalArgumentException(model + ": not an ONNX model (" + e.getMessage() + ")", e);
    }
  }

  private static String key(String name) {
    return OnnxConstants.METADATA_PREFIX + name;
  }

  private static int intOr(String text, int fallback) {
    try {
      return text == null ? fallback : Integer.parseInt(text);
    } catch (NumberFormatException e) {
      return fallback;
    }
  }

  private void requireSameNames(Set<String> given, List<String> modelInputs) {
    Set<String> missing = new LinkedHashSet<>(modelInputs);
    missing.removeAll(given);
    Set<String> extra = new LinkedHashSet<>(given);
    extra.removeAll(modelInputs);
    if (!missing.isEmpty() || !extra.isEmpty()) {
      throw new IllegalArgumentException(
          inputs
              + " does not match the model's inputs "
              + modelInputs
              + (missing.isEmpty() ? "" : ": missing " + missing)
              + (extra.isEmpty() ? "" : (missing.isEmpty() ? ": " : ", ") + "extra " + extra));
    }
  }

  /**
   * Refuses an input the block cannot take. Every input goes to both the block and the model, and
   * the block takes float32 inputs with a bool or float32 mask, so an integer input would only fail
   * later, inside the block.
   */
  private static void requireFloat32OrBool(String name, NDArray array) {
    DataType type = array.getDataType();
    if (type != DataType.FLOAT32 && type != DataType.BOOLEAN) {
      throw new IllegalArgumentException(
          "input '" + name + "' is " + type + "; the block runs float32 (and bool masks)");
    }
  }

  /**
   * Refuses an input with an empty axis: ONNX Runtime 1.26 kills the process with SIGFPE on some of
   * them (an empty query sequence in {@code models/mha_self_bias}), so none reaches it.
   */
  private static void requireNoEmptyAxis(String name, NDArray array) {
    long[] dims = array.getShape().getShape();
    for (int axis = 0; axis < dims.length; axis++) {
      if (dims[axis] == 0) {
        throw new IllegalArgumentException(
            "input '"
                + name
                + "' has shape "
                + array.getShape()
                + ", empty along axis "
                + axis
                + "; check refuses empty inputs (ONNX Runtime crashes the process on some)");
      }
    }
  }

  /** Runs the block on the inputs in the model's order; names its outputs output and weights. */
  private static Map<String, NDArray> runBlock(
      AbstractBlock block, Map<String, NDArray> given, List<String> order, NDManager manager) {
    NDList list = new NDList();
    for (String name : order) {
      list.add(given.get(name));
    }
    boolean multiHead = block instanceof MultiHeadAttentionBlock;
    if (multiHead ? list.size() < 3 || list.size() > 4 : list.size() > 2) {
      throw new IllegalArgumentException(
          "the weights make a "
              + block
              + ", which takes "
              + (multiHead ? "(query, key, value[, attn_mask])" : "(x[, attn_mask])")
              + ", but the model has inputs "
              + order);
    }
    NDList result = block.forward(new ParameterStore(manager, false), list, false);
    Map<String, NDArray> outputs = new LinkedHashMap<>();
    outputs.put("output", result.get(0));
    if (result.size() > 1) {
      outputs.put("weights", result.get(1));
    }
    return outputs;
  }

  private Pair compare(String name, Map<String, NDArray> actual, Map<String, NDArray> reference) {
    List<Comparison> comparisons = new ArrayList<>();
    for (Map.Entry<String, NDArray> entry : actual.entrySet()) {
      NDArray other = reference.get(entry.getKey());
      if (other != null) {
        comparisons.add(Comparison.compare(entry.getKey(), other, entry.getValue(), tolerance));
      }
    }
    return new Pair(name, comparisons);
  }

  /** Builds a {@link ModelCheck}: {@code setX} settings are required, {@code optX} optional. */
  public static final class Builder {
    private Path model;
    private Path weights;
    private Path inputs;
    private Path expected;
    private Integer heads;
    private boolean causal;
    private OrtDevice device = OrtDevice.CPU;
    private double atol = DEFAULT_ATOL;
    private Duration timeout = OrtRunner.defaultTimeout();

    private Builder() {}

    /**
     * Sets the ONNX model; tensors stored as external data are read from beside it.
     *
     * @param model the {@code .onnx} file
     * @return this builder
     */
    public Builder setModel(Path model) {
      this.model = model;
      return this;
    }

    /**
     * Sets the PyTorch state dict the block is built from.
     *
     * @param weights the {@code .npz} file
     * @return this builder
     */
    public Builder setWeights(Path weights) {
      this.weights = weights;
      return this;
    }

    /**
     * Sets the inputs, keyed by the model's input names.
     *
     * @param inputs the {@code .npz} file
     * @return this builder
     */
    public Builder setInputs(Path inputs) {
      this.inputs = inputs;
      return this;
    }

    /**
     * Sets expected outputs, keyed by output name; without them only {@link #DJL_VS_ORT} is
     * compared.
     *
     * @param expected the {@code .npz} file, or null for none
     * @return this builder
     */
    public Builder optExpected(Path expected) {
      this.expected = expected;
      return this;
    }

    /**
     * Sets the number of heads (needed for multi-head weights unless the model's metadata says).
     *
     * @param heads H
     * @return this builder
     */
    public Builder optHeads(int heads) {
      this.heads = heads;
      return this;
    }

    /**
     * Sets whether the module masks future keys; false leaves it to the model's metadata.
     *
     * @param causal true for causal attention
     * @return this builder
     */
    public Builder optCausal(boolean causal) {
      this.causal = causal;
      return this;
    }

    /**
     * Sets where ONNX Runtime runs (default CPU).
     *
     * @param device the device
     * @return this builder
     */
    public Builder optDevice(OrtDevice device) {
      this.device = device;
      return this;
    }

    /**
     * Sets the absolute tolerance (default {@value #DEFAULT_ATOL}, for float32).
     *
     * @param atol finite and >= 0
     * @return this builder
     * @throws IllegalArgumentException otherwise
     */
    public Builder optAtol(double atol) {
      if (!(atol >= 0 && Double.isFinite(atol))) {
        throw new IllegalArgumentException("atol must be finite and >= 0, got " + atol);
      }
      this.atol = atol;
      return this;
    }

    /**
     * Sets the limit on loading the model and on each ONNX Runtime run (default {@link
     * OrtRunner#defaultTimeout()}).
     *
     * @param timeout the limit
     * @return this builder
     */
    public Builder optTimeout(Duration timeout) {
      this.timeout = timeout;
      return this;
    }

    /**
     * Builds the check.
     *
     * @return the check
     * @throws IllegalArgumentException if the model, weights or inputs are not set, or the device
     *     or timeout is null
     */
    public ModelCheck build() {
      if (model == null || weights == null || inputs == null) {
        throw new IllegalArgumentException(
            "a model check needs setModel, setWeights and setInputs; got model "
                + model
                + ", weights "
                + weights
                + ", inputs "
                + inputs);
      }
      if (device == null || timeout == null) {
        throw new IllegalArgumentException("device and timeout must not be null");
      }
      return new ModelCheck(this);
    }
  }
}
