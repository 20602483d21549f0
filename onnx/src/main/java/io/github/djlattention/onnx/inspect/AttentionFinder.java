package io.github.djlattention.onnx.inspect;

import ai.onnx.proto.OnnxMl.ModelProto;
import ai.onnx.proto.OnnxMl.NodeProto;
import com.google.protobuf.CodedInputStream;
import io.github.djlattention.io.InputLimits;
import java.io.IOException;
import java.io.InputStream;
import java.io.UncheckedIOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.Optional;

/**
 * Finds every attention in an ONNX model: the written-out pattern (see {@link WrittenOutFinder}),
 * the ONNX {@code Attention} operator and ONNX Runtime's fused {@code com.microsoft} attention
 * operators.
 *
 * <pre>{@code
 * ModelProto model = AttentionFinder.read(Path.of("model.onnx"));
 * for (AttentionSite site : AttentionFinder.find(model)) {
 *   System.out.println(site.layer() + ": " + site.heads() + " heads of " + site.headSize());
 * }
 * }</pre>
 */
public final class AttentionFinder {

  private AttentionFinder() {}

  /**
   * Reads an ONNX model file.
   *
   * @param file the {@code .onnx} file
   * @return the model
   * @throws IllegalArgumentException if the file is not a regular file, is larger than {@link
   *     InputLimits.Limit#MODEL_BYTES}, or is not an ONNX model
   * @throws UncheckedIOException if it cannot be read
   */
  public static ModelProto read(Path file) {
    if (!Files.isRegularFile(file)) {
      throw new IllegalArgumentException(
          "model " + file + (Files.exists(file) ? " is not a regular file" : " does not exist"));
    }
    InputLimits.requireFile(file, InputLimits.Limit.MODEL_BYTES);
    ModelProto model;
    try (InputStream in = Files.newInputStream(file)) {
      CodedInputStream coded = CodedInputStream.newInstance(in);
      coded.setSizeLimit(Integer.MAX_VALUE);
      model = ModelProto.parseFrom(coded);
    } catch (com.google.protobuf.InvalidProtocolBufferException e) {
      throw new IllegalArgumentException(file + " is not an ONNX model: " + e.getMessage(), e);
    } catch (IOException e) {
      throw new UncheckedIOException("cannot read " + file + ": " + e.getMessage(), e);
    }
    if (!model.hasGraph() || model.getGraph().getNodeCount() == 0) {
      throw new IllegalArgumentException(file + " is not an ONNX model: it has no graph nodes");
    }
    return model;
  }

  /**
   * Every attention site of a model, in graph order.
   *
   * @param model the model
   * @return the sites, numbered from 0; empty when the model has none
   */
  public static List<AttentionSite> find(ModelProto model) {
    return find(new ModelGraph(model));
  }

  /**
   * Every attention site of an indexed model, in graph order.
   *
   * @param graph the model's graph
   * @return the sites, numbered from 0; empty when the model has none
   */
  public static List<AttentionSite> find(ModelGraph graph) {
    Map<String, Integer> position = new HashMap<>();
    for (int i = 0; i < graph.nodes().size(); i++) {
      position.put(ModelGraph.nameOf(graph.nodes().get(i)), i);
    }
    List<AttentionSite> found = new ArrayList<>(new WrittenOutFinder(graph).find());
    FusedOperatorFinder fused = new FusedOperatorFinder(graph);
    for (NodeProto node : graph.nodes()) {
      Optional<AttentionSite.Form> form = FusedOperatorFinder.formOf(node);
      form.ifPresent(f -> found.add(fused.site(node, f, 0)));
    }
    // Graph order of the core's last node (the weighted sum or the operator).
    found.sort(
        Comparator.comparingInt(
            s -> position.getOrDefault(s.nodes().get(s.nodes().size() - 1), Integer.MAX_VALUE)));
    List<AttentionSite> numbered = new ArrayList<>();
    for (int i = 0; i < found.size(); i++) {
      numbered.add(renumber(found.get(i), i));
    }
    return numbered;
  }

  private static AttentionSite renumber(AttentionSite s, int index) {
    String layer = s.layer();
    String previous = "attention " + s.index();
    if (layer.startsWith(previous)) {
      layer = "attention " + index + layer.substring(previous.length());
    }
    return new AttentionSite(
        index,
        layer,
        s.form(),
        s.nodes(),
        s.input(),
        s.query(),
        s.key(),
        s.value(),
        s.masks(),
        s.weights(),
        s.output(),
        s.merged(),
        s.sublayerOutput(),
        s.heads(),
        s.kvHeads(),
        s.headSize(),
        s.scale(),
        s.scaleSteps(),
        s.softcap(),
        s.causal(),
        s.queryProjection(),
        s.keyProjection(),
        s.valueProjection(),
        s.outputProjection(),
        s.notes());
  }
}
