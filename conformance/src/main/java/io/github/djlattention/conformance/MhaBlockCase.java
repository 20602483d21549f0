package io.github.djlattention.conformance;

import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.Shape;
import ai.djl.nn.AbstractBlock;
import io.github.djlattention.blocks.AttentionWeights;
import io.github.djlattention.blocks.MultiHeadAttentionBlock;
import io.github.djlattention.reference.ReferenceAttention.Tensor;
import java.util.LinkedHashMap;
import java.util.Map;

/**
 * A generated case of kind {@code mha-block}: a {@link MultiHeadAttentionBlock} with seeded
 * parameters ({@code q_proj}, {@code k_proj}, {@code v_proj}, {@code out_proj}) on {@code x} (B, S,
 * E), or for cross-attention on query (B, S, E), key (B, T, Ek) and value (B, T, Ev); mask (S, T),
 * (B, S, T) or (B, H, S, T).
 *
 * <p>Legend: B batch, H heads, G key/value heads, S query length, T key length, D head size, E
 * embedding, Ek/Ev key/value features.
 *
 * @param data name, group, element type, seed, tensors (inputs and parameters by PyTorch name) and
 *     mask
 * @param config the block's sizes and flags
 * @param cross whether the block gets query, key and value rather than one x
 */
public record MhaBlockCase(CaseData data, Config config, boolean cross)
    implements GeneratedBlockCase {

  /**
   * Reads a multi-head block case and draws its inputs, parameters and mask.
   *
   * @param spec the line of the matrix
   * @return the case
   * @throws IllegalArgumentException when the sizes do not fit or exceed the limits
   */
  static MhaBlockCase parse(GeneratedCases.CaseSpec spec) {
    int batch = spec.positive("batch");
    int embed = spec.positive("embed");
    int s = spec.positive("queryLength");
    int heads = spec.positive("heads");
    int kvHeads = spec.positive("kvHeads", heads);
    boolean cross = spec.flag("cross");
    int t = cross ? spec.positive("keyLength", s) : s;
    int keySize = cross ? spec.positive("keySize", embed) : embed;
    int valueSize = cross ? spec.positive("valueSize", embed) : embed;
    if (embed % heads != 0 || heads % kvHeads != 0) {
      throw spec.fail(
          "embed " + embed + ", heads " + heads + ", kvHeads " + kvHeads + " do not fit");
    }
    int d = embed / heads;
    boolean bias = spec.flag("bias");
    Config config =
        new Config(
            new Sizes(batch, heads, kvHeads, s, t, d),
            embed,
            keySize,
            valueSize,
            bias,
            spec.flag("causal"));
    config.checkElements(spec);
    Map<String, Tensor> tensors = new LinkedHashMap<>();
    if (cross) {
      tensors.put("query", spec.draw(96, batch, s, embed));
      tensors.put("key", spec.draw(96, batch, t, keySize));
      tensors.put("value", spec.draw(96, batch, t, valueSize));
    } else {
      tensors.put("x", spec.draw(96, batch, s, embed));
    }
    tensors.put("q_proj.weight", spec.draw(32, heads * d, embed));
    tensors.put("k_proj.weight", spec.draw(32, kvHeads * d, keySize));
    tensors.put("v_proj.weight", spec.draw(32, kvHeads * d, valueSize));
    tensors.put("out_proj.weight", spec.draw(32, embed, heads * d));
    if (bias) {
      tensors.put("q_proj.bias", spec.draw(16, heads * d));
      tensors.put("k_proj.bias", spec.draw(16, kvHeads * d));
      tensors.put("v_proj.bias", spec.draw(16, kvHeads * d));
      tensors.put("out_proj.bias", spec.draw(16, embed));
    }
    GeneratedMask mask = spec.mask(json -> config.maskShape(spec, json), s, t);
    return new MhaBlockCase(spec.data(tensors, mask), config, cross);
  }

  @Override
  public String projection(String role) {
    return role + "_proj";
  }

  @Override
  public boolean outputProjection() {
    return true;
  }

  @Override
  public AbstractBlock block(NDManager manager) {
    Config c = config;
    Sizes sizes = c.sizes();
    AbstractBlock block =
        MultiHeadAttentionBlock.builder()
            .setEmbeddingSize(c.embed())
            .setHeads(sizes.heads())
            .optKvHeads(sizes.kvHeads())
            .optKeySize(c.keySize())
            .optValueSize(c.valueSize())
            .optBias(c.bias())
            .optCausal(c.causal())
            .optAttentionWeights(AttentionWeights.AVERAGED)
            .build();
    block.initialize(
        manager,
        type(),
        new Shape(1, sizes.queryLength(), c.embed()),
        new Shape(1, sizes.keyLength(), c.keySize()),
        new Shape(1, sizes.keyLength(), c.valueSize()));
    data().setParameters(block, manager, parameters());
    return block;
  }

  /** The exported graph takes query, key and value, also when the block takes one x. */
  @Override
  public Map<String, Tensor> graphTensors() {
    Map<String, Tensor> tensors = new LinkedHashMap<>();
    for (String role : new String[] {"query", "key", "value"}) {
      tensors.put(role, input(role));
    }
    return tensors;
  }
}
