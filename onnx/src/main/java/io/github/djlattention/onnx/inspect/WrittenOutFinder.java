package io.github.djlattention.onnx.inspect;

import ai.onnx.proto.OnnxMl.NodeProto;
import io.github.djlattention.onnx.inspect.AttentionSite.ScaleStep;
import java.util.ArrayList;
import java.util.Collections;
import java.util.List;
import java.util.Optional;

/**
 * Finds attention written out as separate operators: {@code MatMul(Q, Kᵀ)}, scale factors ({@code
 * Div}/{@code Mul} on the scores, or on Q or Kᵀ before the product), masks ({@code Add} of a float
 * mask, {@code Where} with a condition), an optional softcap ({@code Div}, {@code Tanh}, {@code
 * Mul}), {@code Softmax} over the key axis, then {@code MatMul} with V; {@code Reshape} and {@code
 * Cast} may sit between the steps (grouped-query exports fold the groups into the rows) and a
 * {@code Where}, {@code Dropout} or {@code Identity} after the softmax. Around it, the head split
 * ({@code Reshape} then {@code Transpose}) of each projection and the head merge before the output
 * projection.
 *
 * <p>Shape legend: B batch, H heads, G key/value heads, S query length, T key length, D head size.
 */
final class WrittenOutFinder {

  /** How many steps the scores may take between the product and the softmax. */
  private static final int MAX_SCORE_STEPS = 12;

  /** How many steps the weights may take between the softmax and the weighted sum. */
  private static final int MAX_WEIGHT_STEPS = 4;

  private final ModelGraph graph;
  private final GraphTraces traces;
  private final ProjectionFinder projections;

  WrittenOutFinder(ModelGraph graph) {
    this.graph = graph;
    this.traces = new GraphTraces(graph);
    this.projections = new ProjectionFinder(graph);
  }

  /**
   * The chain from the scores' product to the softmax input. Steps are recorded as the walk
   * returns, so every list is in graph order: nearest the product first.
   */
  private static final class Scores {
    NodeProto product;
    final List<NodeProto> nodes = new ArrayList<>();
    final List<SiteMask> masks = new ArrayList<>();
    final List<ScaleStep> scales = new ArrayList<>();
    final List<String> notes = new ArrayList<>();
    Double softcap;
  }

  /** Every written-out site, in graph order (an empty list when there is none). */
  List<AttentionSite> find() {
    List<AttentionSite> sites = new ArrayList<>();
    for (NodeProto softmax : graph.nodes()) {
      if (ModelGraph.isOp(softmax, "Softmax")) {
        match(softmax, sites.size()).ifPresent(sites::add);
      }
    }
    return sites;
  }

  private Optional<AttentionSite> match(NodeProto softmax, int index) {
    Scores scores = new Scores();
    if (!walkScores(softmax.getInput(0), scores, 0)) {
      return Optional.empty();
    }
    NodeProto product = scores.product;
    if (graph.constant(product.getInput(0)).isPresent()
        || graph.constant(product.getInput(1)).isPresent()) {
      return Optional.empty(); // a product with a weight is a projection, not Q·Kᵀ
    }
    Optional<NodeProto[]> weighted = weightedSum(softmax.getOutput(0));
    if (weighted.isEmpty()) {
      return Optional.empty();
    }
    NodeProto sum = weighted.get()[0];
    if (graph.constant(sum.getInput(1)).isPresent()) {
      return Optional.empty();
    }
    List<String> notes = new ArrayList<>(scores.notes);
    List<ScaleStep> steps = new ArrayList<>();
    String query = stripScales(product.getInput(0), "query", steps);
    String key = stripScales(product.getInput(1), "key", steps);
    steps.addAll(scores.scales);
    List<SiteMask> masks = new ArrayList<>(scores.masks);

    // The head split of each projection: Q (B, S, H·D) -> Reshape (B, S, H, D) -> Transpose.
    HeadSplit q = headSplit(query, false);
    HeadSplit k = headSplit(key, true);
    HeadSplit v = headSplit(sum.getInput(1), false);
    long rank = q.rank > 0 ? q.rank : 4;
    long axis = ModelGraph.intAttribute(softmax, "axis", graph.opset("") >= 13 ? -1 : 1);
    if (axis != -1 && axis != rank - 1) {
      return Optional.empty(); // not over the key axis
    }
    if (graph.opset("") < 13) {
      notes.add(
          "Softmax axis="
              + axis
              + " (opset "
              + graph.opset("")
              + ": over the flattened last axis)");
    }
    Projection queryProjection =
        q.projected == null ? null : projections.producing(q.projected).orElse(null);
    Projection keyProjection =
        k.projected == null ? null : projections.producing(k.projected).orElse(null);
    Projection valueProjection =
        v.projected == null ? null : projections.producing(v.projected).orElse(null);

    String output = sum.getOutput(0);
    Merge merge = merge(output);
    Integer heads = q.heads;
    Integer headSize = q.headSize != null ? q.headSize : k.headSize;
    Integer kvHeads = k.heads != null ? k.heads : v.heads;
    if (heads == null && headSize != null && queryProjection != null) {
      heads =
          Math.toIntExact((queryProjection.columnEnd() - queryProjection.columnStart()) / headSize);
    }
    if (kvHeads == null && headSize != null && keyProjection != null) {
      kvHeads =
          Math.toIntExact((keyProjection.columnEnd() - keyProjection.columnStart()) / headSize);
    }
    Double scale = 1.0;
    for (ScaleStep step : steps) {
      if (step.constant() == null) {
        scale = null;
        break;
      }
      scale = step.divide() ? scale / step.constant() : scale * step.constant();
    }
    boolean causal = masks.stream().anyMatch(SiteMask::causal);
    List<String> nodes = new ArrayList<>();
    nodes.add(ModelGraph.nameOf(product));
    for (NodeProto node : scores.nodes) {
      nodes.add(ModelGraph.nameOf(node));
    }
    nodes.add(ModelGraph.nameOf(softmax));
    for (int i = 1; i < weighted.get().length; i++) {
      nodes.add(ModelGraph.nameOf(weighted.get()[i]));
    }
    nodes.add(ModelGraph.nameOf(sum));
    String input = queryProjection != null ? queryProjection.input() : null;
    return Optional.of(
        new AttentionSite(
            index,
            layerName(List.of(product, softmax, sum), index),
            AttentionSite.Form.WRITTEN_OUT,
            nodes,
            input,
            query,
            key,
            sum.getInput(1),
            masks,
            softmax.getOutput(0),
            output,
            merge.merged,
            merge.projection != null ? merge.projection.output() : null,
            heads,
            kvHeads,
            headSize,
            scale,
            steps,
            scores.softcap,
            causal,
            queryProjection,
            keyProjection,
            valueProjection,
            merge.projection,
            notes));
  }

  /**
   * Walks back from the softmax input to the product, recording masks, scales and the softcap;
   * returns false when the chain does not end in a {@code MatMul}.
   */
  private boolean walkScores(String tensor, Scores scores, int depth) {
    if (depth > MAX_SCORE_STEPS) {
      return false;
    }
    Optional<NodeProto> producer = graph.producer(tensor);
    if (producer.isEmpty()) {
      return false;
    }
    NodeProto node = producer.get();
    String op = ModelGraph.isOp(node, node.getOpType()) ? node.getOpType() : "";
    switch (op) {
      case "MatMul":
        scores.product = node;
        return true;
      case "Add":
        for (int side = 0; side < 2; side++) {
          Mark mark = mark(scores);
          if (walkScores(node.getInput(side), scores, depth + 1)) {
            String mask = node.getInput(1 - side);
            GraphTraces.Origin origin = traces.origin(mask);
            scores.masks.add(new SiteMask.Additive(mask, origin.description(), origin.causal()));
            scores.nodes.add(node);
            return true;
          }
          reset(scores, mark);
        }
        return false;
      case "Where":
        for (int side = 1; side <= 2; side++) {
          Mark mark = mark(scores);
          if (walkScores(node.getInput(side), scores, depth + 1)) {
            String condition = node.getInput(0);
            GraphTraces.Origin origin = traces.origin(condition);
            scores.masks.add(
                new SiteMask.Select(
                    condition,
                    node.getInput(side == 1 ? 2 : 1),
                    side == 1,
                    origin.description(),
                    origin.causal()));
            scores.nodes.add(node);
            return true;
          }
          reset(scores, mark);
        }
        return false;
      case "Mul":
      case "Div":
        return walkScale(node, scores, depth);
      case "Reshape":
      case "Cast":
      case "Identity":
        if (walkScores(node.getInput(0), scores, depth + 1)) {
          if (op.equals("Cast")) {
            scores.notes.add(
                "the scores are cast (" + ModelGraph.nameOf(node) + ") before Softmax");
          }
          scores.nodes.add(node);
          return true;
        }
        return false;
      default:
        return false;
    }
  }

  /** A Mul or Div by a factor, or the softcap's final Mul of c·tanh(x/c). */
  private boolean walkScale(NodeProto node, Scores scores, int depth) {
    boolean divide = node.getOpType().equals("Div");
    for (int side = 0; side < (divide ? 1 : 2); side++) {
      String path = node.getInput(side);
      String factor = node.getInput(1 - side);
      Optional<Double> constant = traces.scalarConstant(factor);
      // The softcap: Mul(Tanh(Div(x, c)), c).
      Optional<NodeProto> tanh = graph.producer(path, "Tanh");
      if (!divide && constant.isPresent() && tanh.isPresent()) {
        Optional<NodeProto> inner = graph.producer(tanh.get().getInput(0), "Div");
        if (inner.isPresent() && traces.scalarConstant(inner.get().getInput(1)).equals(constant)) {
          Mark mark = mark(scores);
          if (walkScores(inner.get().getInput(0), scores, depth + 1)) {
            scores.softcap = constant.get();
            scores.nodes.add(inner.get());
            scores.nodes.add(tanh.get());
            scores.nodes.add(node);
            return true;
          }
          reset(scores, mark);
        }
      }
      if (!isScalarLike(factor)) {
        continue;
      }
      Mark mark = mark(scores);
      if (walkScores(path, scores, depth + 1)) {
        scores.scales.add(new ScaleStep(factor, divide, constant.orElse(null), "scores"));
        scores.nodes.add(node);
        return true;
      }
      reset(scores, mark);
    }
    return false;
  }

  /** A constant of one element, or a computed tensor that is not itself on an attention path. */
  private boolean isScalarLike(String tensor) {
    return graph.constant(tensor).map(t -> ConstantValues.size(t) == 1).orElse(true);
  }

  /** How far the chain had grown, to undo a branch that did not lead to the product. */
  private record Mark(int nodes, int masks, int scales, Double softcap) {}

  private static Mark mark(Scores scores) {
    return new Mark(scores.nodes.size(), scores.masks.size(), scores.scales.size(), scores.softcap);
  }

  private static void reset(Scores scores, Mark mark) {
    truncate(scores.nodes, mark.nodes());
    truncate(scores.masks, mark.masks());
    truncate(scores.scales, mark.scales());
    scores.softcap = mark.softcap();
    scores.product = null;
  }

  private static <T> void truncate(List<T> list, int size) {
    while (list.size() > size) {
      list.remove(list.size() - 1);
    }
  }

  /** Strips constant Mul/Div factors off Q or Kᵀ before the product. */
  private String stripScales(String tensor, String on, List<ScaleStep> steps) {
    List<ScaleStep> found = new ArrayList<>();
    String current = tensor;
    while (true) {
      Optional<NodeProto> producer = graph.producer(current);
      if (producer.isEmpty()) {
        break;
      }
      NodeProto node = producer.get();
      boolean mul = ModelGraph.isOp(node, "Mul");
      boolean div = ModelGraph.isOp(node, "Div");
      if (!mul && !div) {
        break;
      }
      Optional<Double> right = traces.scalarConstant(node.getInput(1));
      Optional<Double> left = mul ? traces.scalarConstant(node.getInput(0)) : Optional.empty();
      if (right.isPresent()) {
        found.add(new ScaleStep(node.getInput(1), div, right.get(), on));
        current = node.getInput(0);
      } else if (left.isPresent()) {
        found.add(new ScaleStep(node.getInput(0), false, left.get(), on));
        current = node.getInput(1);
      } else {
        break;
      }
    }
    Collections.reverse(found);
    steps.addAll(found);
    return current;
  }

  /** The weighted sum reading the softmax output; element 0 is it, the rest the steps between. */
  private Optional<NodeProto[]> weightedSum(String weights) {
    List<NodeProto> path = new ArrayList<>();
    String current = weights;
    for (int step = 0; step <= MAX_WEIGHT_STEPS; step++) {
      NodeProto next = null;
      for (NodeProto consumer : graph.consumers(current)) {
        if (ModelGraph.isOp(consumer, "MatMul") && consumer.getInput(0).equals(current)) {
          List<NodeProto> result = new ArrayList<>();
          result.add(consumer);
          result.addAll(path);
          return Optional.of(result.toArray(new NodeProto[0]));
        }
        if (next == null
            && (ModelGraph.isOp(consumer, "Where")
                || ModelGraph.isOp(consumer, "Reshape")
                || ModelGraph.isOp(consumer, "Cast")
                || ModelGraph.isOp(consumer, "Dropout")
                || ModelGraph.isOp(consumer, "Identity"))) {
          next = consumer;
        }
      }
      if (next == null) {
        return Optional.empty();
      }
      path.add(next);
      current = next.getOutput(0);
    }
    return Optional.empty();
  }

  /** What the head split tells about a per-head tensor. */
  private static final class HeadSplit {
    String projected; // the projection's result (B, S, H·D) before the split, or null
    Integer heads;
    Integer headSize;
    int rank;
  }

  /**
   * Follows Q (…, S, D), Kᵀ (…, D, T) or V (…, T, D) back through Reshape (grouped heads) and
   * Transpose to the head split's Reshape (B, S, H, D) and the projection result it reads.
   */
  private HeadSplit headSplit(String tensor, boolean transposedKey) {
    HeadSplit split = new HeadSplit();
    String current = tensor;
    for (int step = 0; step < 4; step++) {
      Optional<NodeProto> producer = graph.producer(current);
      if (producer.isEmpty()) {
        return split;
      }
      NodeProto node = producer.get();
      if (ModelGraph.isOp(node, "Transpose")) {
        long[] perm = ModelGraph.intsAttribute(node, "perm").orElse(new long[0]);
        split.rank = Math.max(split.rank, perm.length);
        current = node.getInput(0);
        continue;
      }
      if (ModelGraph.isOp(node, "Reshape")) {
        Optional<long[]> shape = traces.shapeValues(node.getInput(1));
        Optional<NodeProto> before = graph.producer(node.getInput(0));
        boolean headSplit =
            shape.isPresent()
                && shape.get().length == 4
                && (before.isEmpty() || !ModelGraph.isOp(before.get(), "Transpose"));
        if (headSplit) {
          long[] dims = shape.get();
          split.heads = dims[2] > 0 ? Math.toIntExact(dims[2]) : null;
          split.headSize = dims[3] > 0 ? Math.toIntExact(dims[3]) : null;
          split.projected = node.getInput(0);
          return split;
        }
        current = node.getInput(0); // a grouping reshape
        continue;
      }
      return split;
    }
    return split;
  }

  /** The head merge after the weighted sum and the output projection reading it. */
  private static final class Merge {
    String merged;
    Projection projection;
  }

  private Merge merge(String output) {
    Merge merge = new Merge();
    String current = output;
    for (int step = 0; step < 4; step++) {
      Optional<NodeProto> next =
          graph.consumers(current).stream()
              .filter(n -> ModelGraph.isOp(n, "Transpose") || ModelGraph.isOp(n, "Reshape"))
              .findFirst();
      if (next.isEmpty()) {
        break;
      }
      current = next.get().getOutput(0);
      if (ModelGraph.isOp(next.get(), "Reshape")) {
        Optional<long[]> shape = traces.shapeValues(next.get().getInput(1));
        if (shape.isPresent() && shape.get().length == 3) {
          merge.merged = current;
          break;
        }
      }
    }
    if (merge.merged != null) {
      merge.projection = projections.reading(merge.merged).orElse(null);
    }
    return merge;
  }

  /** The common prefix of the core's node names up to a '/', or the softmax's name. */
  static String layerName(List<NodeProto> nodes, int index) {
    String prefix = null;
    for (NodeProto node : nodes) {
      String name = node.getName();
      if (prefix == null) {
        prefix = name;
      } else {
        int n = 0;
        while (n < prefix.length() && n < name.length() && prefix.charAt(n) == name.charAt(n)) {
          n++;
        }
        prefix = prefix.substring(0, n);
      }
    }
    int slash = prefix == null ? -1 : prefix.lastIndexOf('/');
    if (slash > 0) {
      return prefix.substring(0, slash);
    }
    String softmax = nodes.get(1).getName();
    return "attention " + index + (softmax.isEmpty() ? "" : " (" + softmax + ")");
  }
}
