package io.github.djlattention.conformance;

import static org.junit.jupiter.api.Assertions.assertTrue;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDArrays;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.DataType;
import ai.djl.ndarray.types.Shape;
import io.github.djlattention.onnx.OnnxTensors;
import io.github.djlattention.reference.ReferenceAttention;
import io.github.djlattention.reference.ReferenceAttention.Tensor;
import java.util.Arrays;
import java.util.Optional;
import java.util.stream.Stream;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.MethodSource;

/**
 * The float64 {@link ReferenceAttention} computes every ONNX case's {@code Y} within the suite's
 * tolerance: the plain-Java control covers the same semantics as the DJL implementation (KV cache,
 * cache-aligned causal masks, valid key counts, sliding windows, short masks, fully masked rows).
 */
class ReferenceOnOnnxCasesTest {

  private static NDManager manager;

  @BeforeAll
  static void open() {
    manager = NDManager.newBaseManager();
  }

  @AfterAll
  static void close() {
    manager.close();
  }

  static Stream<OnnxAttentionCase> cases() {
    return OnnxAttentionCases.load(OnnxAttentionCases.DEFAULT_DIRECTORY).stream();
  }

  @ParameterizedTest(name = "{0}")
  @MethodSource("cases")
  void referenceComputesTheExpectedOutput(OnnxAttentionCase c) {
    try (NDManager m = manager.newSubManager()) {
      AttentionAttributes a = c.attributes();
      NDArray q = array(c, "Q", m).orElseThrow();
      NDArray k = array(c, "K", m).orElseThrow();
      NDArray v = array(c, "V", m).orElseThrow();
      boolean threeD = q.getShape().dimension() == 3;
      if (threeD) {
        q = split(q, a.qNumHeads().getAsInt());
        k = split(k, a.kvNumHeads().getAsInt());
        v = split(v, a.kvNumHeads().getAsInt());
      }
      Optional<NDArray> pastKey = array(c, "past_key", m);
      Optional<NDArray> pastValue = array(c, "past_value", m);
      if (pastKey.isPresent()) {
        k = pastKey.get().concat(k, 2); // (B, G, P+T', D)
        v = pastValue.orElseThrow().concat(v, 2); // (B, G, P+T', Dv)
      }
      long total = k.getShape().get(2);
      Tensor mask = array(c, "attn_mask", m).map(mask4 -> additiveMask(mask4, total)).orElse(null);
      long[] valid = array(c, "nonpad_kv_seqlen", m).map(NDArray::toLongArray).orElse(null);
      ReferenceAttention.Options options =
          new ReferenceAttention.Options(
              mask,
              a.causal(),
              a.scale().isPresent() ? a.scale().getAsDouble() : null,
              a.softcap() > 0 ? a.softcap() : null,
              pastKey.map(p -> Math.toIntExact(p.getShape().get(2))).orElse(-1),
              valid,
              a.leftWindowSize(),
              a.rightWindowSize());
      ReferenceAttention.Result result =
          ReferenceAttention.attention(tensor(q), tensor(k), tensor(v), options);
      NDArray y = m.create(result.output().data(), new Shape(toLong(result.output().shape())));
      if (threeD) {
        Shape s = y.getShape();
        y =
            y.transpose(0, 2, 1, 3)
                .reshape(s.get(0), s.get(2), s.get(1) * s.get(3)); // (B, S, H·Dv)
      }
      NDArray expected = OnnxTensors.toNDArray(c.expectedOutputs().get("Y"), m);
      Comparison comparison =
          Comparison.compare("Y", expected, y.toType(expected.getDataType(), false));
      assertTrue(
          comparison.agrees(),
          () ->
              c.name()
                  + ": worst at "
                  + comparison.elements().worst().indexText()
                  + " expected "
                  + comparison.elements().worst().expected()
                  + ", got "
                  + comparison.elements().worst().actual());
    }
  }

  private static Optional<NDArray> array(OnnxAttentionCase c, String slot, NDManager m) {
    return c.input(slot).map(t -> OnnxTensors.toNDArray(t, m));
  }

  /** (B, S, H·D) to (B, H, S, D). */
  private static NDArray split(NDArray x, int heads) {
    Shape s = x.getShape();
    return x.reshape(s.get(0), s.get(1), heads, s.get(2) / heads).transpose(0, 2, 1, 3);
  }

  /** A bool or float mask, padded to T with hidden keys and placed in 4-D, as additive doubles. */
  private static Tensor additiveMask(NDArray mask, long total) {
    NDArray additive =
        mask.getDataType() == DataType.BOOLEAN
            ? NDArrays.where(
                mask,
                mask.getManager().zeros(mask.getShape(), DataType.FLOAT64),
                mask.getManager().full(mask.getShape(), Float.NEGATIVE_INFINITY, DataType.FLOAT64))
            : mask.toType(DataType.FLOAT64, false);
    long[] shape = additive.getShape().getShape();
    long missing = total - shape[shape.length - 1];
    if (missing > 0) {
      long[] padShape = shape.clone();
      padShape[padShape.length - 1] = missing;
      additive =
          additive.concat(
              additive
                  .getManager()
                  .full(new Shape(padShape), Float.NEGATIVE_INFINITY, DataType.FLOAT64),
              shape.length - 1);
    }
    long[] four = new long[4];
    long[] current = additive.getShape().getShape();
    Arrays.fill(four, 1);
    System.arraycopy(current, 0, four, 4 - current.length, current.length);
    return new Tensor(additive.toDoubleArray(), toInt(four));
  }

  private static Tensor tensor(NDArray array) {
    return new Tensor(
        array.toType(DataType.FLOAT64, false).toDoubleArray(), toInt(array.getShape().getShape()));
  }

  private static int[] toInt(long[] shape) {
    return Arrays.stream(shape).mapToInt(Math::toIntExact).toArray();
  }

  private static long[] toLong(int[] shape) {
    return Arrays.stream(shape).asLongStream().toArray();
  }
}
