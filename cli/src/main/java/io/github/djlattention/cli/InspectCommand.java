package io.github.djlattention.cli;

import ai.onnx.proto.OnnxMl.ModelProto;
import ai.onnx.proto.OnnxMl.OperatorSetIdProto;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.SerializationFeature;
import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import io.github.djlattention.io.AtomicWrite;
import io.github.djlattention.onnx.inspect.AttentionFinder;
import io.github.djlattention.onnx.inspect.AttentionSite;
import io.github.djlattention.onnx.inspect.ModelGraph;
import io.github.djlattention.verify.SiteJson;
import io.github.djlattention.verify.SiteText;
import java.io.PrintWriter;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;
import java.util.concurrent.Callable;
import picocli.CommandLine.Command;
import picocli.CommandLine.Model.CommandSpec;
import picocli.CommandLine.Option;
import picocli.CommandLine.Parameters;
import picocli.CommandLine.Spec;

/**
 * {@code djl-attention inspect MODEL.onnx}: lists every attention site of a model (see {@link
 * AttentionFinder}) as a table, then each site's tensors, mask, scale and projections; {@code
 * --json} writes the same as JSON. Exit 0 (also when the model has no attention), 2 on bad input.
 */
@Command(
    name = "inspect",
    description = {
      "Lists every attention in an ONNX model: the written-out MatMul/Softmax/MatMul pattern, the"
          + " ONNX Attention operator and ONNX Runtime's com.microsoft attention operators, with"
          + " their tensors, heads, head size, scale, mask, causal flag and projections (float or"
          + " quantized).",
      "Exit code: 0 on success (also with no attention), 2 on bad input."
    })
final class InspectCommand implements Callable<Integer> {

  @Spec private CommandSpec spec;

  @Parameters(index = "0", paramLabel = "MODEL.onnx", description = "The ONNX model.")
  private Path model;

  @Option(names = "--json", paramLabel = "FILE", description = "Also write the sites as JSON.")
  private Path json;

  @Option(names = "--summary", description = "Print the table only, not each site's tensors.")
  private boolean summary;

  @Override
  public Integer call() {
    if (json != null) {
      AtomicWrite.requireReplaceable(json);
      AtomicWrite.requireNotAnInput("--json", json, Map.of("MODEL.onnx", model));
    }
    ModelProto proto = AttentionFinder.read(model);
    ModelGraph graph = new ModelGraph(proto);
    List<AttentionSite> sites = AttentionFinder.find(graph);
    PrintWriter out = spec.commandLine().getOut();
    out.println("model:  " + model + " (" + producer(proto) + ")");
    out.println("inputs: " + String.join(", ", graph.inputs()));
    out.println(sites.size() + " attention site(s)");
    if (!sites.isEmpty()) {
      SiteText.table(sites, out);
      if (!summary) {
        SiteText.details(sites, graph, out);
      }
    }
    out.flush();
    if (json != null) {
      ObjectMapper mapper = new ObjectMapper().enable(SerializationFeature.INDENT_OUTPUT);
      ObjectNode root = mapper.createObjectNode();
      root.put("model", model.toString());
      root.put("producer", producer(proto));
      ArrayNode inputs = root.putArray("inputs");
      graph.inputs().forEach(inputs::add);
      ArrayNode array = root.putArray("sites");
      for (AttentionSite site : sites) {
        array.add(SiteJson.site(site, graph));
      }
      try {
        ConformanceCommand.writeAtomically(json, mapper.writeValueAsString(root) + "\n");
      } catch (com.fasterxml.jackson.core.JsonProcessingException e) {
        throw new IllegalStateException("cannot render the sites as JSON", e);
      }
    }
    return ExitCodes.OK;
  }

  /** e.g. {@code pytorch 2.0.1, IR 6, opset 11}. */
  static String producer(ModelProto proto) {
    StringBuilder text = new StringBuilder();
    text.append(proto.getProducerName().isEmpty() ? "unknown producer" : proto.getProducerName());
    if (!proto.getProducerVersion().isEmpty()) {
      text.append(' ').append(proto.getProducerVersion());
    }
    text.append(", IR ").append(proto.getIrVersion());
    for (OperatorSetIdProto opset : proto.getOpsetImportList()) {
      text.append(", ")
          .append(opset.getDomain().isEmpty() ? "opset" : opset.getDomain())
          .append(' ')
          .append(opset.getVersion());
    }
    return text.toString();
  }
}
