package io.github.djlattention.onnx.inspect;

import ai.onnx.proto.OnnxMl.NodeProto;
import ai.onnx.proto.OnnxMl.TensorProto;
import java.util.ArrayDeque;
import java.util.ArrayList;
import java.util.Deque;
import java.util.HashSet;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Optional;
import java.util.Set;

/** Small questions about a graph that the finders ask: constant shapes, where a mask comes from. */
final class GraphTraces {

  /** A shape entry the graph computes at run time. */
  static final long UNKNOWN = Long.MIN_VALUE;

  /** How many nodes a mask's ancestry is searched through. */
  private static final int MAX_TRACE_NODES = 64;

  /** The largest constant checked for a lower-triangular pattern, in elements. */
  private static final int MAX_TRIANGLE_ELEMENTS = 1 << 22;

  private final ModelGraph graph;

  GraphTraces(ModelGraph graph) {
    this.graph = graph;
  }

  /**
   * The values of a shape tensor (a {@code Reshape} target): a constant, or a {@code Concat} of
   * constants and run-time entries (each {@link #UNKNOWN}, one element per computed input).
   *
   * @return the entries, empty when the tensor is neither
   */
  Optional<long[]> shapeValues(String tensor) {
    Optional<TensorProto> constant = graph.constant(tensor);
    if (constant.isPresent()) {
      return longs(constant.get());
    }
    Optional<NodeProto> concat = graph.producer(tensor, "Concat");
    if (concat.isEmpty()) {
      return Optional.empty();
    }
    List<Long> values = new ArrayList<>();
    for (String part : concat.get().getInputList()) {
      Optional<long[]> known = graph.constant(part).flatMap(GraphTraces::longs);
      if (known.isEmpty()) {
        // Unsqueeze(Constant scalar) is as good as a constant.
        known =
            graph
                .producer(part, "Unsqueeze")
                .flatMap(u -> graph.constant(u.getInput(0)))
                .flatMap(GraphTraces::longs);
      }
      if (known.isPresent()) {
        for (long value : known.get()) {
          values.add(value);
        }
      } else {
        values.add(UNKNOWN);
      }
    }
    return Optional.of(values.stream().mapToLong(Long::longValue).toArray());
  }

  /** A constant's values as longs, or an empty array when it cannot be read. */
  static long[] longsOf(TensorProto tensor) {
    return longs(tensor).orElse(new long[0]);
  }

  private static Optional<long[]> longs(TensorProto tensor) {
    try {
      double[] values = ConstantValues.doubles(tensor);
      long[] result = new long[values.length];
      for (int i = 0; i < values.length; i++) {
        result[i] = (long) values[i];
      }
      return Optional.of(result);
    } catch (IllegalArgumentException e) {
      return Optional.empty();
    }
  }

  /** A constant one-element value, e.g. a scale. */
  Optional<Double> scalarConstant(String tensor) {
    return graph.constant(tensor).flatMap(ConstantValues::scalar);
  }

  /** Where a mask comes from, and whether it is causal. */
  record Origin(String description, boolean causal) {}

  /**
   * Follows a mask tensor back through the graph: the graph inputs it reads, the operators on the
   * way (nearest the input first), and signs of a causal pattern.
   */
  Origin origin(String tensor) {
    Set<String> inputs = new LinkedHashSet<>();
    Set<String> shapesOf = new LinkedHashSet<>();
    List<String> path = new ArrayList<>();
    boolean trilu = false;
    boolean range = false;
    boolean compare = false;
    boolean triangle = false;
    Deque<String> pending = new ArrayDeque<>(List.of(tensor));
    Set<String> seen = new HashSet<>();
    int visited = 0;
    while (!pending.isEmpty() && visited < MAX_TRACE_NODES) {
      String current = pending.removeFirst();
      if (!seen.add(current)) {
        continue;
      }
      if (graph.isInput(current)) {
        inputs.add(current);
        continue;
      }
      Optional<TensorProto> constant = graph.constant(current);
      if (constant.isPresent()) {
        triangle |= lowerTriangular(constant.get());
        continue;
      }
      Optional<NodeProto> producer = graph.producer(current);
      if (producer.isEmpty()) {
        continue;
      }
      visited++;
      NodeProto node = producer.get();
      String op = node.getOpType();
      path.add(op);
      trilu |= op.equals("Trilu");
      range |= op.equals("Range");
      compare |= List.of("Less", "LessOrEqual", "Greater", "GreaterOrEqual").contains(op);
      if (ModelGraph.isOp(node, "Shape")) {
        // Only the size of its input matters: do not follow the data path behind it.
        shapesOf.add(node.getInput(0));
        continue;
      }
      for (String in : node.getInputList()) {
        if (!in.isEmpty()) {
          pending.addLast(in);
        }
      }
    }
    boolean causal = trilu || triangle || (range && compare);
    List<String> chain = new ArrayList<>(new LinkedHashSet<>(path));
    java.util.Collections.reverse(chain);
    StringBuilder text = new StringBuilder();
    if (!inputs.isEmpty()) {
      text.append(String.join(", ", inputs));
    } else if (!shapesOf.isEmpty()) {
      text.append("the shape of ").append(String.join(", ", shapesOf));
    } else if (path.isEmpty()) {
      text.append("constant");
    } else {
      text.append("computed");
    }
    for (String op : chain) {
      text.append(" -> ").append(op);
    }
    if (causal) {
      text.append(" (causal)");
    }
    return new Origin(text.toString(), causal);
  }

  /**
   * Whether a constant is 0/1 (or 0/non-zero), square in its last two axes and lower-triangular.
   */
  private static boolean lowerTriangular(TensorProto tensor) {
    long[] dims = ConstantValues.dims(tensor);
    if (dims.length < 2) {
      return false;
    }
    long rows = dims[dims.length - 2];
    long columns = dims[dims.length - 1];
    if (rows != columns || rows < 2) {
      return false;
    }
    int size;
    try {
      size = ConstantValues.size(tensor);
    } catch (IllegalArgumentException e) {
      return false;
    }
    if (size > MAX_TRIANGLE_ELEMENTS) {
      return false;
    }
    double[] values;
    try {
      values = ConstantValues.doubles(tensor);
    } catch (IllegalArgumentException e) {
      return false;
    }
    int n = (int) rows;
    // Only the first (n, n) slice: the usual causal buffer is (1, 1, n, n). Either the kept part
    // (on and below the diagonal) is non-zero and the rest zero (a keep mask), or the other way
    // round (an additive mask: 0 kept, -inf hidden).
    boolean lowerNonZero = true;
    boolean lowerZero = true;
    boolean upperNonZero = true;
    boolean upperZero = true;
    for (int i = 0; i < n; i++) {
      for (int j = 0; j < n; j++) {
        boolean zero = values[i * n + j] == 0;
        if (j <= i) {
          lowerNonZero &= !zero;
          lowerZero &= zero;
        } else {
          upperNonZero &= !zero;
          upperZero &= zero;
        }
      }
    }
    return (lowerNonZero && upperZero) || (lowerZero && upperNonZero);
  }
}
