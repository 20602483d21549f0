package io.github.djlattention.verify;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.Shape;
import ai.onnx.proto.OnnxMl.AttributeProto;
import ai.onnx.proto.OnnxMl.TensorProto;
import io.github.djlattention.io.AtomicWrite;
import io.github.djlattention.onnx.OnnxConstants;
import io.github.djlattention.onnx.OnnxGraphBuilder;
import io.github.djlattention.onnx.OnnxTensors;
import io.github.djlattention.onnx.inspect.AttentionSite;
import io.github.djlattention.reference.ReferenceAttention;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.file.Files;
import java.nio.file.LinkOption;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;
import java.util.Map;

/**
 * Writes one site's core as a standalone case in the ONNX backend-test layout, ready to attach to a
 * bug report: {@code model.onnx}, one opset-23 {@code Attention} node over 4-D inputs with the
 * site's scale (and softcap and causal flag), and {@code test_data_set_0/input_<i>.pb} (Q, K, V and
 * the additive mask, as captured from the model's run) with {@code output_0.pb}, the float64
 * reference's output rounded to float32. A {@code README.txt} says where the case comes from.
 *
 * <p>Shape legend: B batch, H heads, G key/value heads, S query length, T key length, D head size.
 */
final class BackendCase {

  private BackendCase() {}

  /**
   * Writes a case.
   *
   * @param directory the case's folder (created if missing; existing case files are replaced)
   * @param model the model the site belongs to
   * @param site the site
   * @param core its captured core
   * @param summary the site's verdict line
   * @param manager for the temporaries
   * @throws IllegalArgumentException when the folder is not a directory or a file in it is not a
   *     regular file
   * @throws UncheckedIOException when writing fails
   */
  static void write(
      Path directory,
      String model,
      AttentionSite site,
      SiteTensors.Core core,
      String summary,
      NDManager manager) {
    Path data = directory.resolve("test_data_set_0");
    try {
      if (Files.exists(directory, LinkOption.NOFOLLOW_LINKS)
          && !Files.isDirectory(directory, LinkOption.NOFOLLOW_LINKS)) {
        throw new IllegalArgumentException(directory + " exists and is not a directory");
      }
      Files.createDirectories(data);
    } catch (IOException e) {
      throw new UncheckedIOException("cannot create " + data + ": " + e.getMessage(), e);
    }
    List<NDArray> inputs = new ArrayList<>(List.of(core.query(), core.key(), core.value()));
    if (core.mask() != null) {
      // The mask's query axis spelled out: ONNX Runtime 1.26's CPU Attention refuses a mask whose
      // axis -2 is 1, although the operator lets it broadcast.
      Shape m = core.mask().getShape();
      long queries = core.query().getShape().get(2);
      inputs.add(core.mask().broadcast(new Shape(m.get(0), m.get(1), queries, m.get(3))));
    }
    ReferenceAttention.Result reference =
        ReferenceAttention.attention(
            tensor(core.query()),
            tensor(core.key()),
            tensor(core.value()),
            new ReferenceAttention.Options(
                core.mask() == null ? null : tensor(core.mask()),
                core.causal(),
                core.scale(),
                core.softcap()));
    int[] shape = reference.output().shape();
    NDArray expected = manager.create(toFloats(reference.output().data()), new Shape(longs(shape)));

    OnnxGraphBuilder graph = new OnnxGraphBuilder("attention_site", OnnxConstants.ATTENTION_OPSET);
    String[] names = {"Q", "K", "V", "attn_mask"};
    List<String> nodeInputs = new ArrayList<>();
    for (int i = 0; i < inputs.size(); i++) {
      nodeInputs.add(
          graph.input(names[i], TensorProto.DataType.FLOAT_VALUE, dims(inputs.get(i).getShape())));
    }
    String output = graph.reserve("Y");
    List<AttributeProto> attributes = new ArrayList<>();
    attributes.add(OnnxGraphBuilder.attribute("scale", (float) core.scale()));
    if (core.causal()) {
      attributes.add(OnnxGraphBuilder.attribute("is_causal", 1L));
    }
    if (core.softcap() != null) {
      attributes.add(OnnxGraphBuilder.attribute("softcap", core.softcap().floatValue()));
    }
    graph.node("Attention", nodeInputs, List.of(output), attributes.toArray(new AttributeProto[0]));
    graph.output(output, TensorProto.DataType.FLOAT_VALUE, dims(expected.getShape()));
    byte[] bytes =
        graph
            .build(
                Map.of(
                    OnnxConstants.METADATA_PREFIX + "source_model",
                    model,
                    OnnxConstants.METADATA_PREFIX + "source_site",
                    site.layer()))
            .toByteArray();
    AtomicWrite.write(directory.resolve("model.onnx"), out -> out.write(bytes));
    for (int i = 0; i < inputs.size(); i++) {
      byte[] tensor = OnnxTensors.toTensorProto(names[i], inputs.get(i)).toByteArray();
      AtomicWrite.write(data.resolve("input_" + i + ".pb"), out -> out.write(tensor));
    }
    byte[] y = OnnxTensors.toTensorProto("Y", expected).toByteArray();
    AtomicWrite.write(data.resolve("output_0.pb"), out -> out.write(y));
    AtomicWrite.writeString(
        directory.resolve("README.txt"),
        String.format(
            Locale.ROOT,
            "One attention site of %s as a standalone ONNX backend-test case.%n%n"
                + "site:     %s (%s)%n"
                + "verdict:  %s%n"
                + "model:    one Attention node (opset %d), scale %.9g%s%s%n"
                + "inputs:   Q %s, K %s, V %s%s, float32, captured from ONNX Runtime's run of"
                + " the model%n"
                + "expected: output_0.pb, the float64 reference (djl-attention's ReferenceAttention)"
                + " rounded to float32%n",
            model,
            site.layer(),
            site.form().label(),
            summary,
            OnnxConstants.ATTENTION_OPSET,
            core.scale(),
            core.causal() ? ", is_causal=1" : "",
            core.softcap() != null ? ", softcap " + core.softcap() : "",
            core.query().getShape(),
            core.key().getShape(),
            core.value().getShape(),
            core.mask() == null ? "" : ", additive attn_mask " + inputs.get(3).getShape()));
  }

  /** A folder name for a site, e.g. {@code site-03-encoder_layer.3_attention_self}. */
  static String folderName(AttentionSite site) {
    String layer = site.layer().replaceAll("[^A-Za-z0-9._-]+", "_").replaceAll("^_+|_+$", "");
    if (layer.length() > 80) {
      layer = layer.substring(0, 80);
    }
    return String.format(Locale.ROOT, "site-%02d-%s", site.index(), layer);
  }

  private static Object[] dims(Shape shape) {
    Object[] dims = new Object[shape.dimension()];
    for (int i = 0; i < dims.length; i++) {
      dims[i] = shape.get(i);
    }
    return dims;
  }

  private static ReferenceAttention.Tensor tensor(NDArray array) {
    long[] shape = array.getShape().getShape();
    int[] dims = new int[shape.length];
    for (int i = 0; i < shape.length; i++) {
      dims[i] = Math.toIntExact(shape[i]);
    }
    return new ReferenceAttention.Tensor(SiteChecker.doubles(array), dims);
  }

  private static float[] toFloats(double[] values) {
    float[] out = new float[values.length];
    for (int i = 0; i < values.length; i++) {
      out[i] = (float) values[i];
    }
    return out;
  }

  private static long[] longs(int[] shape) {
    long[] out = new long[shape.length];
    for (int i = 0; i < shape.length; i++) {
      out[i] = shape[i];
    }
    return out;
  }
}
