package io.github.djlattention.conformance;

import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.Shape;
import ai.djl.nn.AbstractBlock;
import io.github.djlattention.blocks.AttentionWeights;
import io.github.djlattention.blocks.SelfAttentionBlock;
import io.github.djlattention.reference.ReferenceAttention.Tensor;
import java.util.LinkedHashMap;
import java.util.Map;

/**
 * A generated case of kind {@code self-block}: the seed's single-head {@link SelfAttentionBlock}
 * with seeded parameters ({@code W_q}, {@code W_k}, {@code W_v}, no output projection) on x (B, S,
 * E); mask (S, S) or (B, S, S).
 *
 * <p>Legend: B batch, S sequence length, D head size, E embedding.
 *
 * @param data name, group, element type, seed, tensors ({@code x} and the parameters by PyTorch
 *     name) and mask
 * @param config the block's sizes and flags (one head, T = S, Ek = Ev = E)
 */
public record SelfBlockCase(CaseData data, Config config) implements GeneratedBlockCase {

  /**
   * Reads a single-head block case and draws its input, parameters and mask.
   *
   * @param spec the line of the matrix
   * @return the case
   * @throws IllegalArgumentException when the sizes exceed the limits
   */
  static SelfBlockCase parse(GeneratedCases.CaseSpec spec) {
    int batch = spec.positive("batch");
    int embed = spec.positive("embed");
    int s = spec.positive("queryLength");
    int d = spec.positive("headSize");
    boolean bias = spec.flag("bias");
    Config config =
        new Config(new Sizes(batch, 1, 1, s, s, d), embed, embed, embed, bias, spec.flag("causal"));
    config.checkElements(spec);
    Map<String, Tensor> tensors = new LinkedHashMap<>();
    tensors.put("x", spec.draw(96, batch, s, embed));
    for (String role : new String[] {"q", "k", "v"}) {
      tensors.put("W_" + role + ".weight", spec.draw(32, d, embed));
    }
    if (bias) {
      for (String role : new String[] {"q", "k", "v"}) {
        tensors.put("W_" + role + ".bias", spec.draw(16, d));
      }
    }
    GeneratedMask mask = spec.mask(json -> config.maskShape(spec, json), s, s);
    return new SelfBlockCase(spec.data(tensors, mask), config);
  }

  @Override
  public String projection(String role) {
    return "W_" + role;
  }

  @Override
  public boolean outputProjection() {
    return false;
  }

  @Override
  public AbstractBlock block(NDManager manager) {
    AbstractBlock block =
        SelfAttentionBlock.builder()
            .setEmbeddingSize(config.embed())
            .optHeadSize(config.sizes().headSize())
            .optBias(config.bias())
            .optCausal(config.causal())
            .optAttentionWeights(AttentionWeights.AVERAGED)
            .build();
    block.initialize(manager, type(), new Shape(1, config.sizes().queryLength(), config.embed()));
    data().setParameters(block, manager, parameters());
    return block;
  }
}
