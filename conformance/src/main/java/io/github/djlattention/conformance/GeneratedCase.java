package io.github.djlattention.conformance;

import ai.djl.Device;
import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDList;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.DataType;
import ai.djl.nn.AbstractBlock;
import io.github.djlattention.blocks.BlockParameters;
import io.github.djlattention.compare.Tolerance;
import io.github.djlattention.compare.Tolerances;
import io.github.djlattention.onnx.ExportOptions;
import io.github.djlattention.reference.ReferenceAttention.Tensor;
import java.util.LinkedHashMap;
import java.util.Map;
import java.util.Optional;

/**
 * One case of the {@code generated} suite (a line of {@code conformance/generated/cases.json}) with
 * its tensors drawn from its seed: one of three kinds, each a record that carries its own sizes and
 * behaviour.
 *
 * <ul>
 *   <li>{@link FunctionalCase} ({@code "kind": "functional"}): query, key and value given to the
 *       functional API directly, with mask, causal flag, scale and softcap.
 *   <li>{@link MhaBlockCase} ({@code "mha-block"}): a {@code MultiHeadAttentionBlock} with seeded
 *       parameters.
 *   <li>{@link SelfBlockCase} ({@code "self-block"}): the seed's single-head {@code
 *       SelfAttentionBlock}.
 * </ul>
 *
 * <p>The oracle is {@link io.github.djlattention.reference.ReferenceAttention} in float64, after
 * the projections computed in float64 for the block kinds; outputs are {@code output} and {@code
 * weights} (per head for functional cases, averaged over heads for blocks). Tolerances follow the
 * case's element type.
 *
 * <p>A new kind is one record implementing this interface (the block hooks below say how a block
 * runs it), named in the {@code permits} clause (or {@link GeneratedBlockCase}'s), with its line in
 * {@link GeneratedCases}'s table of kinds.
 */
public sealed interface GeneratedCase extends BlockCase permits FunctionalCase, GeneratedBlockCase {

  /**
   * What every kind has: the case's identity, element type and drawn tensors.
   *
   * @param name the case name
   * @param group the report group
   * @param type the element type of inputs and parameters
   * @param seed the seed the tensors were drawn from
   * @param tensors inputs ({@code query}, {@code key}, {@code value} or {@code x}) and parameters
   *     by PyTorch name, as float64 values exactly representable in {@code type}
   * @param mask the mask, or null
   */
  record CaseData(
      String name,
      String group,
      DataType type,
      long seed,
      Map<String, Tensor> tensors,
      GeneratedMask mask) {

    /**
     * Copies the tensor map.
     *
     * @throws IllegalArgumentException if a required field is null
     */
    public CaseData {
      if (name == null || group == null || type == null || tensors == null) {
        throw new IllegalArgumentException("generated case fields must not be null");
      }
      tensors = Map.copyOf(tensors);
    }

    /**
     * An input or parameter.
     *
     * @param key e.g. {@code query} or {@code q_proj.weight}
     * @return the tensor
     * @throws IllegalArgumentException if the case has none of that name
     */
    public Tensor tensor(String key) {
      Tensor t = tensors.get(key);
      if (t == null) {
        throw new IllegalArgumentException(
            name + " has no tensor '" + key + "'; it has " + tensors.keySet());
      }
      return t;
    }

    /** An array of the case's element type. */
    NDArray create(NDManager manager, Tensor t) {
      NDArray array = manager.create(t.data(), DoubleTensors.toShape(t.shape()));
      return type == DataType.FLOAT64 ? array : array.toType(type, false);
    }

    /** The outputs {@code output} and {@code weights}, the weights also as the heatmap. */
    static CaseOutputs outputs(NDArray output, NDArray weights) {
      Map<String, NDArray> outputs = new LinkedHashMap<>();
      outputs.put("output", output);
      outputs.put("weights", weights);
      return new CaseOutputs(outputs, Optional.of(weights));
    }

    /** Float64 oracle outputs. */
    static CaseOutputs outputs(NDManager manager, Tensor output, Tensor weights) {
      return outputs(
          manager.create(output.data(), DoubleTensors.toShape(output.shape())),
          manager.create(weights.data(), DoubleTensors.toShape(weights.shape())));
    }

    /** A block's outputs as CPU copies owned by {@code manager}. */
    static CaseOutputs copied(NDArray output, NDArray weights, NDManager manager) {
      NDArray out = output.toDevice(Device.cpu(), true);
      NDArray w = weights.toDevice(Device.cpu(), true);
      out.attach(manager);
      w.attach(manager);
      return outputs(out, w);
    }

    /** Sets each named parameter of {@code block}, as an array of the case's element type. */
    void setParameters(AbstractBlock block, NDManager manager, Map<String, Tensor> parameters) {
      parameters.forEach((key, t) -> BlockParameters.set(block, key, create(manager, t)));
    }
  }

  /**
   * The attention's sizes, which every kind has.
   *
   * @param batch B
   * @param heads H, query heads
   * @param kvHeads G, key/value heads (H is a multiple of G)
   * @param queryLength S
   * @param keyLength T
   * @param headSize D, the query and key head size
   */
  record Sizes(int batch, int heads, int kvHeads, int queryLength, int keyLength, int headSize) {}

  /**
   * The case's identity, element type and tensors.
   *
   * @return the shared data
   */
  CaseData data();

  /**
   * The block's inputs before the mask, in the order its {@code forward} takes them, by name.
   *
   * @return e.g. {@code x}, or {@code query, key, value}
   */
  Map<String, Tensor> blockTensors();

  /**
   * The exported graph's inputs before {@code attn_mask}, by name; the block's by default.
   *
   * @return the graph's tensors
   */
  default Map<String, Tensor> graphTensors() {
    return blockTensors();
  }

  /**
   * The mask as the block and its exported graph take it.
   *
   * @return the mask, empty when the case has none
   */
  Optional<GeneratedMask> blockMask();

  @Override
  default String name() {
    return data().name();
  }

  @Override
  default String group() {
    return data().group();
  }

  @Override
  default String dataType() {
    return data().type().toString();
  }

  /**
   * The element type of inputs and parameters.
   *
   * @return float16, float32 or float64
   */
  default DataType type() {
    return data().type();
  }

  /**
   * An input or parameter.
   *
   * @param key e.g. {@code query} or {@code q_proj.weight}
   * @return the tensor
   * @throws IllegalArgumentException if the case has none of that name
   */
  default Tensor tensor(String key) {
    return data().tensor(key);
  }

  /**
   * The mask, if any.
   *
   * @return the mask
   */
  default Optional<GeneratedMask> optMask() {
    return Optional.ofNullable(data().mask());
  }

  /** Tolerances follow the case's element type, not the float64 oracle's. */
  @Override
  default Tolerance tolerance(String output, NDArray expected) {
    return Tolerances.forType(type());
  }

  @Override
  default NDList blockInputs(NDManager manager) {
    NDList list = new NDList();
    blockTensors().values().forEach(t -> list.add(data().create(manager, t)));
    blockMask().ifPresent(m -> list.add(m.toNDArray(manager, type())));
    return list;
  }

  @Override
  default Map<String, NDArray> onnxInputs(NDManager manager) {
    Map<String, NDArray> inputs = new LinkedHashMap<>();
    graphTensors().forEach((key, t) -> inputs.put(key, data().create(manager, t)));
    blockMask().ifPresent(m -> inputs.put("attn_mask", m.toNDArray(manager, type())));
    return inputs;
  }

  @Override
  default ExportOptions exportOptions(int opset) {
    ExportOptions.Builder options = ExportOptions.builder().optOpset(opset);
    blockMask()
        .ifPresent(
            m ->
                options.optMask(
                    m.bool() ? ExportOptions.MaskType.BOOL : ExportOptions.MaskType.FLOAT,
                    m.shape().length));
    return options.build();
  }
}
