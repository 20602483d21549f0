package io.github.djlattention.cli;

import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.SerializationFeature;
import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import io.github.djlattention.compare.ElementComparison;
import io.github.djlattention.conformance.Comparison;
import io.github.djlattention.conformance.ModelCheck;
import io.github.djlattention.io.AtomicWrite;
import io.github.djlattention.ort.OrtDevice;
import java.io.PrintWriter;
import java.nio.file.Path;
import java.time.Duration;
import java.util.LinkedHashMap;
import java.util.Locale;
import java.util.Map;
import java.util.concurrent.Callable;
import picocli.CommandLine.Command;
import picocli.CommandLine.Model.CommandSpec;
import picocli.CommandLine.Option;
import picocli.CommandLine.Spec;

/**
 * {@code djl-attention check}: runs the same inputs through a DJL block built from a state dict and
 * through an ONNX model on ONNX Runtime, and compares them with each other and with expected
 * outputs. The work is {@link ModelCheck}'s (which block, which inputs, the pairs and the element
 * rule); this class parses the options, calls it and prints the result.
 *
 * <p>A pair passes when every shared output has the same shape and every element is within {@code
 * --atol} (default 1e-4, for float32), with no NaN/infinity mismatch; a pair with no shared output
 * fails. Exit 0 when every pair passes, 1 otherwise, 2 on bad input.
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
    ModelCheck.Builder builder =
        ModelCheck.builder()
            .setModel(onnx)
            .setWeights(weights)
            .setInputs(inputs)
            .optExpected(expected)
            .optCausal(causal)
            .optDevice(ortDevice)
            .optAtol(atol)
            .optTimeout(timeout);
    if (heads != null) {
      builder.optHeads(heads);
    }
    ModelCheck check = builder.build();
    if (json != null) {
      AtomicWrite.requireReplaceable(json);
      Map<String, Path> named = new LinkedHashMap<>();
      named.put("--onnx", onnx);
      named.put("--weights", weights);
      named.put("--inputs", inputs);
      named.put("--expected", expected);
      AtomicWrite.requireNotAnInput("--json", json, named);
    }
    ModelCheck.Result result = check.run();
    PrintWriter out = spec.commandLine().getOut();
    out.printf(
        "check %s: %s vs ONNX Runtime (%s)%s, atol %.1e%n",
        onnx,
        result.block(),
        deviceName(ortDevice),
        expected != null ? " vs " + expected : "",
        atol);
    result.pairs().values().forEach(pair -> print(out, pair));
    out.println(result.passed() ? "PASS: all pairs within " + atol : "FAIL: see the pairs above");
    if (json != null) {
      writeReport(result);
    }
    return result.passed() ? ExitCodes.OK : ExitCodes.CHECK_FAILED;
  }

  private static String deviceName(OrtDevice device) {
    return device.name().toLowerCase(Locale.ROOT);
  }

  private static void print(PrintWriter out, ModelCheck.Pair pair) {
    if (pair.outputs().isEmpty()) {
      out.printf("  %-16s no output in common  FAIL%n", pair.name());
      return;
    }
    for (Comparison c : pair.outputs()) {
      ElementComparison e = c.elements();
      if (!e.sameShape()) {
        out.printf("  %-16s %-8s %s  FAIL%n", pair.name(), c.output(), c.note());
        continue;
      }
      out.printf(
          "  %-16s %-8s max_abs %.3e  max_rel %.3e  worst %s%s  %s%n",
          pair.name(),
          c.output(),
          e.statistics().maxAbsError(),
          e.statistics().maxRelError(),
          e.worst().indexText(),
          e.nonFiniteMismatches() > 0 ? "  non-finite mismatches " + e.nonFiniteMismatches() : "",
          c.agrees() ? "ok" : "FAIL");
    }
  }

  private void writeReport(ModelCheck.Result result) {
    ObjectMapper mapper = new ObjectMapper().enable(SerializationFeature.INDENT_OUTPUT);
    ObjectNode report = mapper.createObjectNode();
    report.put("onnx", onnx.toString());
    report.put("weights", weights.toString());
    report.put("inputs", inputs.toString());
    report.put("expected", expected == null ? null : expected.toString());
    report.put("block", result.block());
    report.put("device", deviceName(result.device()));
    report.put("atol", result.tolerance().atol());
    report.put("passed", result.passed());
    result.pairs().forEach((name, pair) -> report.set(name, pairNode(mapper, pair)));
    AtomicWrite.write(json, stream -> mapper.writeValue(stream, report));
  }

  private static ObjectNode pairNode(ObjectMapper mapper, ModelCheck.Pair pair) {
    ObjectNode node = mapper.createObjectNode();
    node.put("passed", pair.passed());
    pair.worst()
        .ifPresent(
            worst -> {
              fill(node, worst.elements());
              node.put("worst_output", worst.output());
            });
    ObjectNode outputs = node.putObject("outputs");
    for (Comparison c : pair.outputs()) {
      ElementComparison e = c.elements();
      ObjectNode output = outputs.putObject(c.output());
      output.put("passed", c.agrees());
      ArrayNode shape = output.putArray("shape");
      for (long dim : e.shape()) {
        shape.add(dim);
      }
      output.put("same_shape", e.sameShape());
      fill(output, e);
      output.put("nonfinite_mismatches", e.nonFiniteMismatches());
    }
    return node;
  }

  private static void fill(ObjectNode node, ElementComparison e) {
    if (e.sameShape()) {
      node.put("max_abs", e.statistics().maxAbsError());
      node.put("max_rel", e.statistics().maxRelError());
    } else {
      node.putNull("max_abs");
      node.putNull("max_rel");
    }
    ArrayNode index = node.putArray("worst_index");
    for (long i : e.worst().index()) {
      index.add(i);
    }
  }
}
