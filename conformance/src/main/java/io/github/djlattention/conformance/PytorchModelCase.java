package io.github.djlattention.conformance;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDList;
import ai.djl.ndarray.NDManager;
import ai.djl.nn.AbstractBlock;
import io.github.djlattention.blocks.AttentionWeights;
import io.github.djlattention.blocks.StateDicts;
import io.github.djlattention.io.Npz;
import io.github.djlattention.onnx.ExportOptions;
import java.nio.file.Path;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Optional;

/**
 * One PyTorch reference model folder ({@code models/NAME/}): PyTorch's {@code model.onnx}, its
 * {@code state_dict.npz}, {@code inputs.npz} and the eager outputs {@code outputs.npz}, the oracle.
 *
 * <p>The block is loaded from the state dict by {@link StateDicts}; the number of heads and the
 * causal flag, which a state dict does not hold, come from {@code models/manifest.json}. A float
 * {@code attn_mask} input is added to the scores, as PyTorch does.
 *
 * @param name the folder name, e.g. {@code mha_causal}
 * @param group the report group
 * @param dir the folder
 * @param heads H for {@code nn.MultiheadAttention}, 0 for the seed's single-head module
 * @param causal whether the module masks future keys
 * @param inputNames the graph's input names in order ({@code x} or {@code query}, {@code key},
 *     {@code value}, then {@code attn_mask})
 * @param maskRank the rank of the {@code attn_mask} input, 0 when there is none
 */
public record PytorchModelCase(
    String name,
    String group,
    Path dir,
    int heads,
    boolean causal,
    List<String> inputNames,
    int maskRank)
    implements BlockCase {

  /**
   * Copies the name list.
   *
   * @throws IllegalArgumentException if a field is null
   */
  public PytorchModelCase {
    if (name == null || group == null || dir == null || inputNames == null) {
      throw new IllegalArgumentException("model case fields must not be null");
    }
    inputNames = List.copyOf(inputNames);
  }

  /**
   * The folder's {@code model.onnx}, written by {@code torch.onnx.export}.
   *
   * @return the path
   */
  public Path model() {
    return dir.resolve("model.onnx");
  }

  @Override
  public String dataType() {
    return "float32";
  }

  /** PyTorch's eager outputs {@code output} and {@code weights}; the weights also as a heatmap. */
  @Override
  public CaseOutputs expected(NDManager manager) {
    Map<String, NDArray> outputs = Npz.read(manager, dir.resolve("outputs.npz"));
    return new CaseOutputs(outputs, Optional.ofNullable(outputs.get("weights")));
  }

  /**
   * The stored inputs by graph input name.
   *
   * @param manager owns the arrays
   * @return the inputs, in the graph's order
   */
  public Map<String, NDArray> inputs(NDManager manager) {
    Map<String, NDArray> stored = Npz.read(manager, dir.resolve("inputs.npz"));
    Map<String, NDArray> ordered = new LinkedHashMap<>();
    for (String input : inputNames) {
      NDArray array = stored.get(input);
      if (array == null) {
        throw new IllegalArgumentException(
            dir.resolve("inputs.npz") + " lacks '" + input + "'; it has " + stored.keySet());
      }
      ordered.put(input, array);
    }
    return ordered;
  }

  @Override
  public Optional<String> blockUnsupported() {
    return Optional.empty();
  }

  @Override
  public AbstractBlock block(NDManager manager) {
    return StateDicts.load(
        manager,
        Npz.read(manager, dir.resolve("state_dict.npz")),
        heads,
        causal,
        AttentionWeights.AVERAGED);
  }

  @Override
  public NDList blockInputs(NDManager manager) {
    return new NDList(inputs(manager).values());
  }

  @Override
  public Map<String, NDArray> onnxInputs(NDManager manager) {
    return inputs(manager);
  }

  @Override
  public ExportOptions exportOptions(int opset) {
    ExportOptions.Builder options = ExportOptions.builder().optOpset(opset);
    if (maskRank > 0) {
      options.optMask(ExportOptions.MaskType.FLOAT, maskRank);
    }
    return options.build();
  }

  @Override
  public CaseOutputs fromBlock(NDArray output, NDArray weights, NDManager manager) {
    Map<String, NDArray> outputs = new LinkedHashMap<>();
    NDArray out = output.toDevice(ai.djl.Device.cpu(), true);
    NDArray w = weights.toDevice(ai.djl.Device.cpu(), true);
    out.attach(manager);
    w.attach(manager);
    outputs.put("output", out);
    outputs.put("weights", w);
    return new CaseOutputs(outputs, Optional.of(w));
  }
}
