package io.github.djlattention.onnx.inspect;

import ai.onnx.proto.OnnxMl.NodeProto;
import ai.onnx.proto.OnnxMl.TensorProto;
import java.util.Optional;

/**
 * Finds the learned linear maps around an attention: backwards from a tensor to the projection that
 * produced it, and forwards from a tensor to the projection that reads it.
 */
final class ProjectionFinder {

  /** How many Transpose/Reshape steps may sit between an attention output and its projection. */
  private static final int MAX_FORWARD_STEPS = 4;

  private final ModelGraph graph;

  ProjectionFinder(ModelGraph graph) {
    this.graph = graph;
  }

  /**
   * The projection whose result is {@code tensor}: {@code Add(bias, core)} or the core alone, the
   * core being a float {@code MatMul}/{@code Gemm}, a dynamically quantized {@code MatMulInteger}
   * or a {@code QLinearMatMul}; or a {@code Split}/{@code Slice} of such a result along its last
   * axis (a packed QKV projection).
   */
  Optional<Projection> producing(String tensor) {
    Optional<Projection> packed = packedPart(tensor);
    if (packed.isPresent()) {
      return packed;
    }
    Optional<NodeProto> add = graph.producer(tensor, "Add");
    if (add.isPresent()) {
      NodeProto node = add.get();
      for (int side = 0; side < 2; side++) {
        String bias = node.getInput(side);
        String other = node.getInput(1 - side);
        if (isVector(bias)) {
          Optional<Projection> core = core(other);
          if (core.isPresent()) {
            return Optional.of(withBias(core.get(), bias, tensor));
          }
        }
      }
      return Optional.empty();
    }
    return core(tensor);
  }

  /**
   * The projection reading {@code tensor}, looked for through up to a few Transpose, Reshape and
   * guarding Where nodes.
   */
  Optional<Projection> reading(String tensor) {
    String current = tensor;
    for (int step = 0; step <= MAX_FORWARD_STEPS; step++) {
      Optional<Projection> direct = readingDirectly(current);
      if (direct.isPresent()) {
        return direct;
      }
      String from = current;
      Optional<NodeProto> next =
          graph.consumers(current).stream()
              .filter(
                  n ->
                      ModelGraph.isOp(n, "Transpose")
                          || ModelGraph.isOp(n, "Reshape")
                          // a guard that zeroes rows: Where(condition, 0, x)
                          || (ModelGraph.isOp(n, "Where") && !n.getInput(0).equals(from)))
              .findFirst();
      if (next.isEmpty()) {
        return Optional.empty();
      }
      current = next.get().getOutput(0);
    }
    return Optional.empty();
  }

  /** A projection whose float input is exactly {@code tensor}. */
  private Optional<Projection> readingDirectly(String tensor) {
    for (NodeProto consumer : graph.consumers(tensor)) {
      Optional<String> end = Optional.empty();
      if ((ModelGraph.isOp(consumer, "MatMul") || ModelGraph.isOp(consumer, "Gemm"))
          && consumer.getInput(0).equals(tensor)) {
        end = Optional.of(consumer.getOutput(0));
      } else if (ModelGraph.isOp(consumer, "DynamicQuantizeLinear")) {
        end =
            firstConsumer(consumer.getOutput(0), "MatMulInteger")
                .flatMap(n -> firstConsumer(n.getOutput(0), "Cast"))
                .flatMap(n -> firstConsumer(n.getOutput(0), "Mul"))
                .map(n -> n.getOutput(0));
      } else if (ModelGraph.isOp(consumer, "QuantizeLinear")) {
        end =
            firstConsumer(consumer.getOutput(0), "QLinearMatMul")
                .flatMap(n -> firstConsumer(n.getOutput(0), "DequantizeLinear"))
                .map(n -> n.getOutput(0));
      }
      if (end.isEmpty()) {
        continue;
      }
      String result = end.get();
      // The bias, if an Add with a constant vector follows.
      Optional<NodeProto> add = firstConsumer(result, "Add");
      if (add.isPresent()) {
        NodeProto node = add.get();
        String other = node.getInput(0).equals(result) ? node.getInput(1) : node.getInput(0);
        if (isVector(other)) {
          result = node.getOutput(0);
        }
      }
      Optional<Projection> found = producing(result).filter(p -> p.input().equals(tensor));
      if (found.isPresent()) {
        return found;
      }
    }
    return Optional.empty();
  }

  private Optional<NodeProto> firstConsumer(String tensor, String opType) {
    return graph.consumers(tensor).stream().filter(n -> ModelGraph.isOp(n, opType)).findFirst();
  }

  /** The projection core producing {@code tensor}, without a separate bias. */
  private Optional<Projection> core(String tensor) {
    Optional<NodeProto> producer = graph.producer(tensor);
    if (producer.isEmpty()) {
      return Optional.empty();
    }
    NodeProto node = producer.get();
    if (ModelGraph.isOp(node, "MatMul")) {
      return floatWeight(node.getInput(1))
          .map(
              w ->
                  new Projection.FloatWeights(
                      node.getInput(0), w.name, w.transposed, null, tensor, 0, w.columns));
    }
    if (ModelGraph.isOp(node, "Gemm")) {
      if (ModelGraph.intAttribute(node, "transA", 0) != 0
          || ModelGraph.floatAttribute(node, "alpha").orElse(1.0) != 1.0
          || ModelGraph.floatAttribute(node, "beta").orElse(1.0) != 1.0) {
        return Optional.empty();
      }
      boolean transB = ModelGraph.intAttribute(node, "transB", 0) != 0;
      String weight = node.getInput(1);
      if (!isMatrix(weight)) {
        return Optional.empty();
      }
      long[] dims = ConstantValues.dims(graph.constant(weight).get());
      String bias =
          node.getInputCount() > 2 && isVector(node.getInput(2)) ? node.getInput(2) : null;
      return Optional.of(
          new Projection.FloatWeights(
              node.getInput(0), weight, transB, bias, tensor, 0, transB ? dims[0] : dims[1]));
    }
    if (ModelGraph.isOp(node, "Mul")) {
      return dynamicQuantized(node, tensor);
    }
    if (ModelGraph.isOp(node, "DequantizeLinear")) {
      return qlinear(node, tensor);
    }
    return Optional.empty();
  }

  private record Weight(String name, boolean transposed, long columns) {}

  /** A float weight: a 2-D constant, or a 2-D constant through Transpose(perm = 1, 0). */
  private Optional<Weight> floatWeight(String tensor) {
    if (isMatrix(tensor)) {
      long[] dims = ConstantValues.dims(graph.constant(tensor).get());
      return Optional.of(new Weight(tensor, false, dims[1]));
    }
    Optional<NodeProto> transpose = graph.producer(tensor, "Transpose");
    if (transpose.isPresent() && isMatrix(transpose.get().getInput(0))) {
      long[] perm = ModelGraph.intsAttribute(transpose.get(), "perm").orElse(new long[] {1, 0});
      if (perm.length == 2 && perm[0] == 1 && perm[1] == 0) {
        String weight = transpose.get().getInput(0);
        long[] dims = ConstantValues.dims(graph.constant(weight).get());
        return Optional.of(new Weight(weight, true, dims[0]));
      }
    }
    return Optional.empty();
  }

  /**
   * {@code Mul(Cast(MatMulInteger(x_q, W_q, x_zp, W_zp)), Mul(x_scale, W_scale))}, either operand
   * order, with {@code x_q, x_scale, x_zp} from one {@code DynamicQuantizeLinear}.
   */
  private Optional<Projection> dynamicQuantized(NodeProto mul, String tensor) {
    for (int side = 0; side < 2; side++) {
      Optional<NodeProto> cast = graph.producer(mul.getInput(side), "Cast");
      if (cast.isEmpty()) {
        continue;
      }
      Optional<NodeProto> matMul = graph.producer(cast.get().getInput(0), "MatMulInteger");
      if (matMul.isEmpty()) {
        continue;
      }
      NodeProto mm = matMul.get();
      String quantized = mm.getInput(0);
      Optional<NodeProto> dql = graph.producer(quantized, "DynamicQuantizeLinear");
      if (dql.isEmpty() || !isMatrix(mm.getInput(1))) {
        continue;
      }
      String scales = mul.getInput(1 - side);
      String weightScale = null;
      Optional<NodeProto> scalesMul = graph.producer(scales, "Mul");
      if (scalesMul.isPresent()) {
        NodeProto s = scalesMul.get();
        if (s.getInput(0).equals(dql.get().getOutput(1))
            && graph.constant(s.getInput(1)).isPresent()) {
          weightScale = s.getInput(1);
        } else if (s.getInput(1).equals(dql.get().getOutput(1))
            && graph.constant(s.getInput(0)).isPresent()) {
          weightScale = s.getInput(0);
        }
      }
      if (weightScale == null) {
        continue;
      }
      String weightZeroPoint =
          mm.getInputCount() > 3 && !mm.getInput(3).isEmpty() ? mm.getInput(3) : null;
      long[] dims = ConstantValues.dims(graph.constant(mm.getInput(1)).get());
      return Optional.of(
          new Projection.DynamicQuantized(
              dql.get().getInput(0),
              quantized,
              dql.get().getOutput(1),
              dql.get().getOutput(2),
              mm.getInput(1),
              weightScale,
              weightZeroPoint,
              null,
              tensor,
              0,
              dims[1]));
    }
    return Optional.empty();
  }

  /** {@code DequantizeLinear(QLinearMatMul(QuantizeLinear(x), ...))}. */
  private Optional<Projection> qlinear(NodeProto dequantize, String tensor) {
    Optional<NodeProto> matMul = graph.producer(dequantize.getInput(0), "QLinearMatMul");
    if (matMul.isEmpty() || matMul.get().getInputCount() < 8) {
      return Optional.empty();
    }
    NodeProto mm = matMul.get();
    Optional<NodeProto> quantize = graph.producer(mm.getInput(0), "QuantizeLinear");
    if (quantize.isEmpty() || !isMatrix(mm.getInput(3))) {
      return Optional.empty();
    }
    long[] dims = ConstantValues.dims(graph.constant(mm.getInput(3)).get());
    return Optional.of(
        new Projection.QLinear(
            quantize.get().getInput(0),
            mm.getInput(0),
            mm.getInput(1),
            emptyToNull(mm.getInput(2)),
            mm.getInput(3),
            mm.getInput(4),
            emptyToNull(mm.getInput(5)),
            mm.getInput(6),
            emptyToNull(mm.getInput(7)),
            null,
            tensor,
            0,
            dims[1]));
  }

  /** One part of a packed projection's result, split along the last axis. */
  private Optional<Projection> packedPart(String tensor) {
    Optional<NodeProto> producer = graph.producer(tensor);
    if (producer.isEmpty()) {
      return Optional.empty();
    }
    NodeProto node = producer.get();
    if (ModelGraph.isOp(node, "Split")) {
      long axis = ModelGraph.intAttribute(node, "axis", 0);
      Optional<Projection> whole = producing(node.getInput(0));
      if (whole.isEmpty() || (axis != -1 && axis != 2)) {
        return Optional.empty();
      }
      long width = whole.get().columnEnd() - whole.get().columnStart();
      int parts = node.getOutputCount();
      long[] sizes =
          ModelGraph.intsAttribute(node, "split")
              .or(
                  () ->
                      node.getInputCount() > 1 && !node.getInput(1).isEmpty()
                          ? graph.constant(node.getInput(1)).map(GraphTraces::longsOf)
                          : Optional.empty())
              .orElse(null);
      if (sizes == null) {
        if (width % parts != 0) {
          return Optional.empty();
        }
        sizes = new long[parts];
        java.util.Arrays.fill(sizes, width / parts);
      }
      int index = node.getOutputList().indexOf(tensor);
      long start = 0;
      for (int i = 0; i < index; i++) {
        start += sizes[i];
      }
      return Optional.of(columns(whole.get(), start, start + sizes[index]));
    }
    if (ModelGraph.isOp(node, "Slice") && node.getInputCount() >= 4) {
      Optional<Projection> whole = producing(node.getInput(0));
      Optional<long[]> starts = graph.constant(node.getInput(1)).map(GraphTraces::longsOf);
      Optional<long[]> ends = graph.constant(node.getInput(2)).map(GraphTraces::longsOf);
      Optional<long[]> axes = graph.constant(node.getInput(3)).map(GraphTraces::longsOf);
      boolean stepOne =
          node.getInputCount() < 5
              || node.getInput(4).isEmpty()
              || graph
                  .constant(node.getInput(4))
                  .map(GraphTraces::longsOf)
                  .map(s -> s.length == 1 && s[0] == 1)
                  .orElse(false);
      if (whole.isEmpty() || starts.isEmpty() || ends.isEmpty() || axes.isEmpty() || !stepOne) {
        return Optional.empty();
      }
      if (starts.get().length != 1 || axes.get()[0] != -1 && axes.get()[0] != 2) {
        return Optional.empty();
      }
      long width = whole.get().columnEnd() - whole.get().columnStart();
      long start = Math.max(0, Math.min(width, starts.get()[0]));
      long end = Math.max(start, Math.min(width, ends.get()[0]));
      return Optional.of(columns(whole.get(), start, end));
    }
    return Optional.empty();
  }

  private static Projection columns(Projection whole, long start, long end) {
    long base = whole.columnStart();
    if (whole instanceof Projection.FloatWeights f) {
      return new Projection.FloatWeights(
          f.input(), f.weight(), f.transposed(), f.bias(), f.output(), base + start, base + end);
    }
    if (whole instanceof Projection.DynamicQuantized d) {
      return new Projection.DynamicQuantized(
          d.input(),
          d.quantizedInput(),
          d.inputScale(),
          d.inputZeroPoint(),
          d.weight(),
          d.weightScale(),
          d.weightZeroPoint(),
          d.bias(),
          d.output(),
          base + start,
          base + end);
    }
    Projection.QLinear q = (Projection.QLinear) whole;
    return new Projection.QLinear(
        q.input(),
        q.quantizedInput(),
        q.inputScale(),
        q.inputZeroPoint(),
        q.weight(),
        q.weightScale(),
        q.weightZeroPoint(),
        q.outputScale(),
        q.outputZeroPoint(),
        q.bias(),
        q.output(),
        base + start,
        base + end);
  }

  private static Projection withBias(Projection core, String bias, String output) {
    if (core instanceof Projection.FloatWeights f) {
      return new Projection.FloatWeights(
          f.input(), f.weight(), f.transposed(), bias, output, f.columnStart(), f.columnEnd());
    }
    if (core instanceof Projection.DynamicQuantized d) {
      return new Projection.DynamicQuantized(
          d.input(),
          d.quantizedInput(),
          d.inputScale(),
          d.inputZeroPoint(),
          d.weight(),
          d.weightScale(),
          d.weightZeroPoint(),
          bias,
          output,
          d.columnStart(),
          d.columnEnd());
    }
    Projection.QLinear q = (Projection.QLinear) core;
    return new Projection.QLinear(
        q.input(),
        q.quantizedInput(),
        q.inputScale(),
        q.inputZeroPoint(),
        q.weight(),
        q.weightScale(),
        q.weightZeroPoint(),
        q.outputScale(),
        q.outputZeroPoint(),
        bias,
        output,
        q.columnStart(),
        q.columnEnd());
  }

  private boolean isMatrix(String tensor) {
    return graph.constant(tensor).map(t -> t.getDimsCount() == 2).orElse(false);
  }

  private boolean isVector(String tensor) {
    return graph.constant(tensor).map(t -> t.getDimsCount() == 1 && isFloat(t)).orElse(false);
  }

  private static boolean isFloat(TensorProto tensor) {
    int type = tensor.getDataType();
    return type == TensorProto.DataType.FLOAT_VALUE
        || type == TensorProto.DataType.FLOAT16_VALUE
        || type == TensorProto.DataType.DOUBLE_VALUE
        || type == TensorProto.DataType.BFLOAT16_VALUE;
  }

  private static String emptyToNull(String name) {
    return name.isEmpty() ? null : name;
  }
}
