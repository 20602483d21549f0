package io.github.djlattention.examples.minilm;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDList;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.index.NDIndex;
import ai.djl.ndarray.types.DataType;
import ai.djl.ndarray.types.Shape;
import ai.djl.nn.AbstractBlock;
import ai.djl.nn.Parameter;
import ai.djl.nn.norm.LayerNorm;
import ai.djl.training.ParameterStore;
import ai.djl.util.PairList;
import java.util.ArrayList;
import java.util.Collections;
import java.util.List;

/**
 * A BERT encoder: word, position and token-type embeddings with their LayerNorm, then {@link
 * BertLayer}s.
 *
 * <p>Inputs: {@code (input_ids, attention_mask, token_type_ids)}, each int64 (B, S), the mask 1 for
 * a token and 0 for padding, as Hugging Face tokenizers give them. Output: the last hidden state
 * (B, S, E).
 */
final class BertEncoder extends AbstractBlock {

  private final Parameter wordEmbeddings;
  private final Parameter positionEmbeddings;
  private final Parameter tokenTypeEmbeddings;
  private final LayerNorm embeddingNorm;
  private final List<BertLayer> layers = new ArrayList<>();

  BertEncoder(
      long vocabulary,
      long positions,
      long tokenTypes,
      long embedding,
      int layerCount,
      int heads,
      long intermediateSize,
      float epsilon) {
    wordEmbeddings = embedding("word_embeddings", vocabulary, embedding);
    positionEmbeddings = embedding("position_embeddings", positions, embedding);
    tokenTypeEmbeddings = embedding("token_type_embeddings", tokenTypes, embedding);
    embeddingNorm =
        addChildBlock("embedding_norm", LayerNorm.builder().axis(2).optEpsilon(epsilon).build());
    for (int i = 0; i < layerCount; i++) {
      layers.add(
          addChildBlock("layer_" + i, new BertLayer(embedding, heads, intermediateSize, epsilon)));
    }
  }

  private Parameter embedding(String name, long rows, long embedding) {
    return addParameter(
        Parameter.builder()
            .setName(name)
            .setType(Parameter.Type.WEIGHT)
            .optShape(new Shape(rows, embedding))
            .build());
  }

  Parameter wordEmbeddings() {
    return wordEmbeddings;
  }

  Parameter positionEmbeddings() {
    return positionEmbeddings;
  }

  Parameter tokenTypeEmbeddings() {
    return tokenTypeEmbeddings;
  }

  LayerNorm embeddingNorm() {
    return embeddingNorm;
  }

  List<BertLayer> layers() {
    return Collections.unmodifiableList(layers);
  }

  @Override
  protected NDList forwardInternal(
      ParameterStore store, NDList inputs, boolean training, PairList<String, Object> params) {
    NDArray ids = inputs.get(0);
    NDArray attentionMask = inputs.get(1);
    NDArray tokenTypes = inputs.get(2);
    long batch = ids.getShape().get(0);
    long length = ids.getShape().get(1);
    NDManager manager = ids.getManager();
    NDArray positions =
        manager.arange(length).toType(DataType.INT64, false).broadcast(batch, length);
    NDArray x =
        rows(store.getValue(wordEmbeddings, ids.getDevice(), training), ids)
            .add(rows(store.getValue(positionEmbeddings, ids.getDevice(), training), positions))
            .add(rows(store.getValue(tokenTypeEmbeddings, ids.getDevice(), training), tokenTypes));
    x = embeddingNorm.forward(store, new NDList(x), training).singletonOrThrow();
    // (B, 1, 1, T): every query row sees the sequence's tokens, not its padding
    NDArray mask = attentionMask.eq(1).reshape(batch, 1, 1, length);
    for (BertLayer layer : layers) {
      x = layer.forward(store, new NDList(x, mask), training, params).singletonOrThrow();
    }
    return new NDList(x);
  }

  /**
   * table[ids] for int64 ids (B, S): (B, S, E), in the ids' manager. A gather lands in the table's
   * manager, the model's, which lives as long as the model: left there, every later array of the
   * forward did too (685 MiB a call at batch 32, never freed).
   */
  private static NDArray rows(NDArray table, NDArray ids) {
    Shape shape = ids.getShape();
    NDArray picked = table.get(new NDIndex("{}", ids.flatten()));
    picked.attach(ids.getManager());
    return picked.reshape(shape.get(0), shape.get(1), table.getShape().get(1));
  }

  @Override
  public Shape[] getOutputShapes(Shape[] inputShapes) {
    Shape ids = inputShapes[0];
    return new Shape[] {new Shape(ids.get(0), ids.get(1), wordEmbeddings.getShape().get(1))};
  }

  @Override
  protected void initializeChildBlocks(NDManager manager, DataType dataType, Shape... inputShapes) {
    Shape ids = inputShapes[0];
    long embedding = wordEmbeddings.getShape().get(1);
    Shape x = new Shape(ids.get(0), ids.get(1), embedding);
    Shape mask = new Shape(ids.get(0), 1, 1, ids.get(1));
    embeddingNorm.initialize(manager, dataType, x);
    for (BertLayer layer : layers) {
      layer.initialize(manager, dataType, x, mask);
    }
  }
}
