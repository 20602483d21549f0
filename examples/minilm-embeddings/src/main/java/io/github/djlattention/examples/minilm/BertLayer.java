package io.github.djlattention.examples.minilm;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDList;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.DataType;
import ai.djl.ndarray.types.Shape;
import ai.djl.nn.AbstractBlock;
import ai.djl.nn.Activation;
import ai.djl.nn.core.Linear;
import ai.djl.nn.norm.LayerNorm;
import ai.djl.training.ParameterStore;
import ai.djl.util.PairList;
import io.github.djlattention.blocks.MultiHeadAttentionBlock;

/**
 * One BERT encoder layer (post-norm): {@code h = LayerNorm(x + Attention(x))}, then {@code
 * LayerNorm(h + W2·GELU(W1·h))}. The attention is the project's {@link MultiHeadAttentionBlock}
 * with its output projection (BERT's {@code attention.output.dense}); the rest is DJL's {@link
 * Linear}, {@link LayerNorm} and {@link Activation#gelu(NDArray)} (exact, erf-based, as BERT's).
 *
 * <p>Inputs: {@code (x (B, S, E), mask (B, 1, 1, S) boolean, true = the key takes part)}. Output:
 * {@code (B, S, E)}.
 */
final class BertLayer extends AbstractBlock {

  private final MultiHeadAttentionBlock attention;
  private final LayerNorm attentionNorm;
  private final Linear intermediate;
  private final Linear output;
  private final LayerNorm outputNorm;

  BertLayer(long embedding, int heads, long intermediateSize, float epsilon) {
    attention =
        addChildBlock(
            "attention",
            MultiHeadAttentionBlock.builder()
                .setEmbeddingSize(embedding)
                .setHeads(heads)
                .optBias(true)
                .build());
    attentionNorm =
        addChildBlock("attention_norm", LayerNorm.builder().axis(2).optEpsilon(epsilon).build());
    intermediate =
        addChildBlock("intermediate", Linear.builder().setUnits(intermediateSize).build());
    output = addChildBlock("output", Linear.builder().setUnits(embedding).build());
    outputNorm =
        addChildBlock("output_norm", LayerNorm.builder().axis(2).optEpsilon(epsilon).build());
  }

  MultiHeadAttentionBlock attention() {
    return attention;
  }

  LayerNorm attentionNorm() {
    return attentionNorm;
  }

  Linear intermediate() {
    return intermediate;
  }

  Linear output() {
    return output;
  }

  LayerNorm outputNorm() {
    return outputNorm;
  }

  @Override
  protected NDList forwardInternal(
      ParameterStore store, NDList inputs, boolean training, PairList<String, Object> params) {
    NDArray x = inputs.get(0);
    NDArray mask = inputs.get(1);
    NDArray attended =
        attention.forward(store, new NDList(x, mask), training, params).singletonOrThrow();
    NDArray h =
        attentionNorm.forward(store, new NDList(x.add(attended)), training).singletonOrThrow();
    NDArray inner =
        Activation.gelu(intermediate.forward(store, new NDList(h), training).singletonOrThrow());
    NDArray projected = output.forward(store, new NDList(inner), training).singletonOrThrow();
    return outputNorm.forward(store, new NDList(h.add(projected)), training);
  }

  @Override
  public Shape[] getOutputShapes(Shape[] inputShapes) {
    return new Shape[] {inputShapes[0]};
  }

  @Override
  protected void initializeChildBlocks(NDManager manager, DataType dataType, Shape... inputShapes) {
    Shape x = inputShapes[0];
    Shape mask = inputShapes[1];
    attention.initialize(manager, dataType, x, mask);
    attentionNorm.initialize(manager, dataType, x);
    intermediate.initialize(manager, dataType, x);
    Shape inner = intermediate.getOutputShapes(new Shape[] {x})[0];
    output.initialize(manager, dataType, inner);
    outputNorm.initialize(manager, dataType, x);
  }
}
