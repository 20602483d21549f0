package io.github.djlattention.cli;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDList;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.DataType;
import ai.djl.nn.AbstractBlock;
import ai.djl.training.ParameterStore;
import ai.onnx.proto.OnnxMl.ModelProto;
import ai.onnx.proto.OnnxMl.StringStringEntryProto;
import ai.onnxruntime.OrtLoggingLevel;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.SerializationFeature;
import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import com.google.protobuf.InvalidProtocolBufferException;
import io.github.djlattention.blocks.AttentionWeights;
import io.github.djlattention.blocks.MultiHeadAttentionBlock;
import io.github.djlattention.blocks.StateDicts;
import io.github.djlattention.io.AtomicWrite;
import io.github.djlattention.io.InputLimits;
import io.github.djlattention.io.Npz;
import io.github.djlattention.onnx.OnnxConstants;
import io.github.djlattention.ort.OrtDevice;
import io.github.djlattention.ort.OrtRunner;
import java.io.PrintWriter;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.Callable;
import picocli.CommandLine.Command;
import picocli.CommandLine.Model.CommandSpec;
import picocli.CommandLine.Option;
import picocli.CommandLine.Spec;

/**
 * {@code djl-attention check}: runs the same inputs through a DJL block built from a state dict and
 * through an ONNX model on ONNX Runtime, and compares them with each other and with expected
 * outputs.
 *
 * <p>The block comes from {@code --weights} through {@link StateDicts} (the names tell which
 * module). The number of heads and the causal flag are not in a state dict: they come from {@code
 * --heads} and {@code --causal}, or, for a model written by {@code export}, from its metadata. The
 * keys of {@code --inputs} must be exactly the model's input names; they are given to the block in
 * the model's input order ({@code x} or {@code query, key, value}, then {@code attn_mask}). A bool
 * {@code attn_mask} is read the library's way (true = attend), a float one is added to the scores.
 *
 * <p>Pairs compared, on the outputs both sides have: {@code djl_vs_ort}, {@code djl_vs_expected},
 * {@code ort_vs_expected} (the latter two with {@code --expected}). The block's outputs are named
 * {@code output} and {@code weights}. A pair passes when every shared output has the same shape and
 * max |difference| ≤ {@code --atol} (default 1e-4, for float32), with no NaN/infinity mismatch; a
 * pair with no shared output fails. Exit 0 when every pair passes, 1 otherwise, 2 on bad input.
 *
 * <p>The {@code --json} report is one object: the run's settings, {@code passed}, and one object
 * per pair under its name, each with {@code passed}, {@code max_abs}, {@code max_rel}, {@code
 * worst_output} and {@code worst_index} (over all its outputs), and an {@code outputs} map with the
 * same fields per output name plus {@code shape} and {@code nonfinite_mismatches}.
 */
@Command(
    name = "check",
    description = {
      "Compares a DJL block built from a PyTorch state dict with an ONNX model on ONNX Runtime",
      "(and both with expected outputs). Exit 0 when all agree within --atol, 1 when not."
    })
final class CheckCommand implements Callable<Integer> {

  @Spec private CommandSpec spec;

  @Option(
      names = "--onnx",
      required = true,
      paramLabel = "<model.onnx>",
      description = "The ONNX model.")
  private Path onnx;

  @Option(
      names = "--weights",
      required = true,
      paramLabel = "<state_dict.npz>",
      description = "The PyTorch state dict the DJL block is built from.")
  private Path weights;

  @Option(
      names = "--heads",
      paramLabel = "<H>",
      description = "Number of heads (required for multi-head weights unless the model says).")
  private Integer heads;

  @Option(
      names = "--causal",
      description = "The module masks future keys (default: the model's metadata, else no).")
  private boolean causal;

  @Option(
      names = "--inputs",
      required = true,
      paramLabel = "<inputs.npz>",
      description = "The inputs, keyed by the model's input names.")
  private Path inputs;

  @Option(
      names = "--expected",
      paramLabel = "<outputs.npz>",
      description = "Expected outputs, keyed by output name.")
  private Path expected;

  @Option(
      names = "--device",
      paramLabel = "<cpu|cuda>",
      defaultValue = "cpu",
      description = "Where ONNX Runtime runs (default cpu).")
  private String device;

  @Option(
      names = "--atol",
      paramLabel = "<F>",
      defaultValue = "1e-4",
      description = "Absolute tolerance (default 1e-4, for float32).")
  private double atol;

  @Option(
      names = "--json",
      paramLabel = "<report.json>",
      description = "Write the comparison as JSON (atomically).")
  private Path json;

  @Option(
      names = "--timeout",
      paramLabel = "<seconds>",
      defaultValue = "600",
      description =
          "Give up on loading the model, or on one ONNX Runtime run, after this many seconds"
              + " (default 600); exit 2.")
  private double timeoutSeconds;

  @Override
  public Integer call() {
    Duration timeout = CliTimeouts.parse(timeoutSeconds);
    OrtDevice ortDevice = OrtDevice.parse(device);
    if (!(atol >= 0 && Double.isFinite(atol))) {
      throw new IllegalArgumentException("--atol must be finite and >= 0, got " + atol);
    }
    if (json != null) {
      AtomicWrite.requireReplaceable(json);
      Map<String, Path> named = new LinkedHashMap<>();
      named.put("--onnx", onnx);
      named.put("--weights", weights);
      named.put("--inputs", inputs);
      named.put("--expected", expected);
      AtomicWrite.requireNotAnInput("--json", json, named);
    }
    byte[] modelBytes = readModel();
    Map<String, String> metadata = metadata(modelBytes);
    int headCount = heads != null ? heads : intOr(metadata.get(key("heads")), 0);
    boolean isCausal = causal || Boolean.parseBoolean(metadata.get(key("causal")));
    PrintWriter out = spec.commandLine().getOut();

    try (NDManager manager = NDManager.newBaseManager("PyTorch");
        // FATAL: a failing kernel would also log on the process's stderr; the error policy's one
        // line already carries ONNX Runtime's message.
        OrtRunner runner =
            OrtRunner.builder()
                .optDevice(ortDevice)
                .optLogLevel(OrtLoggingLevel.ORT_LOGGING_LEVEL_FATAL)
                .optTimeout(timeout)
                // from its path, so external data is read from beside the model, and only there
                .build(onnx)) {
      Map<String, NDArray> given = Npz.read(manager, inputs);
      List<String> inputNames = runner.inputNames();
      requireSameNames(given.keySet(), inputNames);
      given.forEach(CheckCommand::requireFloat32OrBool);
      given.forEach(CheckCommand::requireNoEmptyAxis);
      Map<String, NDArray> stateDict = Npz.read(manager, weights);
      AbstractBlock block =
          StateDicts.load(manager, stateDict, headCount, isCausal, AttentionWeights.AVERAGED);
      Map<String, NDArray> expectedOutputs = expected == null ? null : Npz.read(manager, expected);

      Map<String, NDArray> djl = runBlock(block, given, inputNames, manager);
      Map<String, NDArray> ort = runner.run(given, manager);

      out.printf(
          "check %s: %s vs ONNX Runtime (%s)%s, atol %.1e%n",
          onnx,
          block,
          ortDevice.name().toLowerCase(java.util.Locale.ROOT),
          expectedOutputs != null ? " vs " + expected : "",
          atol);
      Map<String, PairResult> pairs = new LinkedHashMap<>();
      pairs.put("djl_vs_ort", compare(djl, ort));
      if (expectedOutputs != null) {
        pairs.put("djl_vs_expected", compare(djl, expectedOutputs));
        pairs.put("ort_vs_expected", compare(ort, expectedOutputs));
      }
      boolean passed = pairs.values().stream().allMatch(PairResult::passed);
      pairs.forEach((name, pair) -> print(out, name, pair, djl, ort));
      out.println(passed ? "PASS: all pairs within " + atol : "FAIL: see the pairs above");
      if (json != null) {
        writeReport(pairs, passed, block.toString(), ortDevice);
      }
      return passed ? ExitCodes.OK : ExitCodes.CHECK_FAILED;
    }
  }

  private byte[] readModel() {
    return InputLimits.readFile(onnx, InputLimits.Limit.MODEL_BYTES);
  }

  private Map<String, String> metadata(byte[] model) {
    try {
      Map<String, String> metadata = new LinkedHashMap<>();
      for (StringStringEntryProto entry : ModelProto.parseFrom(model).getMetadataPropsList()) {
        metadata.put(entry.getKey(), entry.getValue());
      }
      return metadata;
    } catch (InvalidProtocolBufferException e) {
      throw new IllegalArgumentException(onnx + ": not an ONNX model (" + e.getMessage() + ")", e);
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

  /** One pair's comparisons, by output name. */
  private record PairResult(List<OutputComparison> outputs) {
    boolean passed() {
      return !outputs.isEmpty() && outputs.stream().allMatch(OutputComparison::passed);
    }

    OutputComparison worst() {
      OutputComparison worst = null;
      for (OutputComparison c : outputs) {
        if (worst == null || score(c) > score(worst)) {
          worst = c;
        }
      }
      return worst;
    }

    private static double score(OutputComparison c) {
      return !c.sameShape() || c.nonFiniteMismatches() > 0 ? Double.POSITIVE_INFINITY : c.maxAbs();
    }
  }

  private PairResult compare(Map<String, NDArray> actual, Map<String, NDArray> reference) {
    List<OutputComparison> comparisons = new ArrayList<>();
    for (Map.Entry<String, NDArray> entry : actual.entrySet()) {
      NDArray other = reference.get(entry.getKey());
      if (other != null) {
        comparisons.add(OutputComparison.of(entry.getKey(), entry.getValue(), other, atol));
      }
    }
    return new PairResult(comparisons);
  }

  private static void print(
      PrintWriter out,
      String name,
      PairResult pair,
      Map<String, NDArray> djl,
      Map<String, NDArray> ort) {
    if (pair.outputs().isEmpty()) {
      out.printf("  %-16s no output in common  FAIL%n", name);
      return;
    }
    Map<String, NDArray> actualSide = name.startsWith("djl") ? djl : ort;
    for (OutputComparison c : pair.outputs()) {
      out.printf(
          "  %-16s %s%n", name, c.describe(String.valueOf(actualSide.get(c.name()).getShape())));
    }
  }

  private void writeReport(
      Map<String, PairResult> pairs, boolean passed, String block, OrtDevice ortDevice) {
    ObjectMapper mapper = new ObjectMapper().enable(SerializationFeature.INDENT_OUTPUT);
    ObjectNode report = mapper.createObjectNode();
    report.put("onnx", onnx.toString());
    report.put("weights", weights.toString());
    report.put("inputs", inputs.toString());
    report.put("expected", expected == null ? null : expected.toString());
    report.put("block", block);
    report.put("device", ortDevice.name().toLowerCase(java.util.Locale.ROOT));
    report.put("atol", atol);
    report.put("passed", passed);
    pairs.forEach((name, pair) -> report.set(name, pairNode(mapper, pair)));
    AtomicWrite.write(json, stream -> mapper.writeValue(stream, report));
  }

  private static ObjectNode pairNode(ObjectMapper mapper, PairResult pair) {
    ObjectNode node = mapper.createObjectNode();
    node.put("passed", pair.passed());
    OutputComparison worst = pair.worst();
    if (worst != null) {
      fill(node, worst);
      node.put("worst_output", worst.name());
    }
    ObjectNode outputs = node.putObject("outputs");
    for (OutputComparison c : pair.outputs()) {
      ObjectNode output = outputs.putObject(c.name());
      output.put("passed", c.passed());
      ArrayNode shape = output.putArray("shape");
      for (long dim : c.shape()) {
        shape.add(dim);
      }
      output.put("same_shape", c.sameShape());
      fill(output, c);
      output.put("nonfinite_mismatches", c.nonFiniteMismatches());
    }
    return node;
  }

  private static void fill(ObjectNode node, OutputComparison c) {
    if (c.sameShape()) {
      node.put("max_abs", c.maxAbs());
      node.put("max_rel", c.maxRel());
    } else {
      node.putNull("max_abs");
      node.putNull("max_rel");
    }
    ArrayNode index = node.putArray("worst_index");
    for (long i : c.worstIndex()) {
      index.add(i);
    }
  }
}
