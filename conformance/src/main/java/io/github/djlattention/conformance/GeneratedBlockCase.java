package io.github.djlattention.conformance;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.DataType;
import com.fasterxml.jackson.databind.JsonNode;
import io.github.djlattention.reference.ReferenceAttention;
import io.github.djlattention.reference.ReferenceAttention.Tensor;
import java.util.LinkedHashMap;
import java.util.Map;
import java.util.Optional;
import java.util.Set;

/**
 * A generated case that runs one of the project's blocks with seeded parameters: what the two block
 * kinds share. The oracle projects the inputs in float64 ({@code projection(role).weight} and
 * {@code .bias}), splits heads, runs {@link ReferenceAttention}, merges heads, applies the output
 * projection when the block has one, and averages the weights over heads. The mask is given as the
 * block takes it: (S, T), (B, S, T) or (B, H, S, T).
 *
 * <p>Legend: B batch, H heads, G key/value heads, S query length, T key length, D head size, E
 * embedding, Ek/Ev key/value features.
 */
public sealed interface GeneratedBlockCase extends GeneratedCase
    permits MhaBlockCase, SelfBlockCase {

  /** The names of the block inputs among a case's tensors; every other tensor is a parameter. */
  Set<String> INPUTS = Set.of("x", "query", "key", "value");

  /**
   * The block's configuration.
   *
   * @param sizes B, H (1 for the single-head block), G, S, T and D
   * @param embed E
   * @param keySize Ek
   * @param valueSize Ev
   * @param bias whether the projections have biases
   * @param causal whether query i sees only keys j ≤ i
   */
  record Config(Sizes sizes, int embed, int keySize, int valueSize, boolean bias, boolean causal) {

    /** Refuses sizes whose tensors would exceed the limits, before anything is drawn. */
    void checkElements(GeneratedCases.CaseSpec spec) {
      int batch = sizes.batch();
      int heads = sizes.heads();
      int kvHeads = sizes.kvHeads();
      int queryLength = sizes.queryLength();
      int keyLength = sizes.keyLength();
      int headSize = sizes.headSize();
      spec.elements("batch x queryLength x embed", batch, queryLength, embed);
      spec.elements("batch x keyLength x keySize", batch, keyLength, keySize);
      spec.elements("batch x keyLength x valueSize", batch, keyLength, valueSize);
      spec.elements(
          "batch x heads x queryLength x keyLength", batch, heads, queryLength, keyLength);
      spec.elements("heads x headSize x embed", heads, headSize, embed);
      spec.elements("kvHeads x headSize x keySize", kvHeads, headSize, keySize);
      spec.elements("kvHeads x headSize x valueSize", kvHeads, headSize, valueSize);
    }

    /** The mask's shape from its {@code rank}: 2 (S, T), 3 (B, S, T) or 4 (B, H, S, T). */
    int[] maskShape(GeneratedCases.CaseSpec spec, JsonNode json) {
      int batch = sizes.batch();
      int queryLength = sizes.queryLength();
      int keyLength = sizes.keyLength();
      switch (json.path("rank").asInt(2)) {
        case 2:
          return new int[] {queryLength, keyLength};
        case 3:
          return new int[] {batch, queryLength, keyLength};
        case 4:
          return new int[] {batch, sizes.heads(), queryLength, keyLength};
        default:
          throw spec.fail("block mask rank must be 2, 3 or 4");
      }
    }
  }

  /**
   * The block's configuration.
   *
   * @return the sizes and flags
   */
  Config config();

  /**
   * The parameter prefix of one projection.
   *
   * @param role {@code q}, {@code k}, {@code v} (or {@code out})
   * @return e.g. {@code q_proj} or {@code W_q}
   */
  String projection(String role);

  /**
   * Whether the block projects the merged heads once more ({@code out_proj}).
   *
   * @return true for the multi-head block
   */
  boolean outputProjection();

  // ---- the oracle ----------------------------------------------------------------------------

  @Override
  default CaseOutputs expected(NDManager manager) {
    Sizes c = config().sizes();
    Tensor query = DoubleTensors.linear(input("query"), weight("q"), bias("q"));
    Tensor key = DoubleTensors.linear(input("key"), weight("k"), bias("k"));
    Tensor value = DoubleTensors.linear(input("value"), weight("v"), bias("v"));
    ReferenceAttention.Result r =
        ReferenceAttention.attention(
            DoubleTensors.splitHeads(query, c.heads()), // (B, H, S, D)
            DoubleTensors.splitHeads(key, c.kvHeads()), // (B, G, T, D)
            DoubleTensors.splitHeads(value, c.kvHeads()), // (B, G, T, D)
            referenceOptions());
    Tensor output = DoubleTensors.mergeHeads(r.output()); // (B, S, H·D)
    if (outputProjection()) {
      output = DoubleTensors.linear(output, weight("out"), bias("out")); // (B, S, E)
    }
    return CaseData.outputs(manager, output, DoubleTensors.meanOverHeads(r.weights())); // (B, S, T)
  }

  /**
   * The reference's options: the mask on four axes and the causal flag.
   *
   * @return the options
   */
  default ReferenceAttention.Options referenceOptions() {
    Tensor additive = optMask().map(m -> m.reference(mask4d())).orElse(null);
    return new ReferenceAttention.Options(additive, config().causal(), null, null);
  }

  /**
   * The mask's shape on the reference's four axes (B, H, S, T).
   *
   * @return four sizes, 1 where the mask broadcasts
   * @throws java.util.NoSuchElementException if the case has no mask
   */
  default int[] mask4d() {
    int[] s = optMask().orElseThrow().shape();
    switch (s.length) {
      case 2:
        return new int[] {1, 1, s[0], s[1]}; // (S, T)
      case 3:
        return new int[] {s[0], 1, s[1], s[2]}; // (B, S, T)
      default:
        return s; // (B, H, S, T)
    }
  }

  /**
   * A block input by role: {@code x} when the case has one, else {@code query}, {@code key} or
   * {@code value}.
   *
   * @param role {@code query}, {@code key} or {@code value}
   * @return the input
   */
  default Tensor input(String role) {
    return data().tensors().containsKey("x") ? tensor("x") : tensor(role);
  }

  private Tensor weight(String role) {
    return tensor(projection(role) + ".weight");
  }

  private Tensor bias(String role) {
    return config().bias() ? tensor(projection(role) + ".bias") : null;
  }

  // ---- the block and its exports -------------------------------------------------------------

  /**
   * The block's parameters by PyTorch name: every tensor that is not an input.
   *
   * @return the parameters
   */
  default Map<String, Tensor> parameters() {
    Map<String, Tensor> parameters = new LinkedHashMap<>(data().tensors());
    parameters.keySet().removeAll(INPUTS);
    return parameters;
  }

  @Override
  default Optional<String> blockUnsupported() {
    return type() == DataType.FLOAT16
        ? Optional.of("float16 blocks are not run")
        : Optional.empty();
  }

  /** {@code x}, or {@code query}, {@code key} and {@code value} for a cross-attention case. */
  @Override
  default Map<String, Tensor> blockTensors() {
    Map<String, Tensor> tensors = new LinkedHashMap<>();
    for (String name : new String[] {"x", "query", "key", "value"}) {
      if (data().tensors().containsKey(name)) {
        tensors.put(name, tensor(name));
      }
    }
    return tensors;
  }

  @Override
  default Optional<GeneratedMask> blockMask() {
    return optMask();
  }

  @Override
  default CaseOutputs fromBlock(NDArray output, NDArray weights, NDManager manager) {
    return CaseData.copied(output, weights, manager);
  }
}
