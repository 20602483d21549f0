package io.github.djlattention.conformance;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDList;
import ai.djl.ndarray.NDManager;
import ai.djl.nn.AbstractBlock;
import io.github.djlattention.onnx.ExportOptions;
import java.util.Map;
import java.util.Optional;

/**
 * A case that a DJL attention block can compute, and therefore also the block's ONNX exports: it
 * builds the block with its parameters, gives the block's and the graph's inputs, and maps the
 * block's two outputs (output, head-averaged weights) back to the case's outputs.
 */
public interface BlockCase extends ConformanceCase {

  /**
   * Why no block expresses this case (e.g. a softcap, which the blocks lack).
   *
   * @return the reason, empty when {@link #block} can be called
   */
  Optional<String> blockUnsupported();

  /**
   * Builds and initializes the block, with the case's parameters.
   *
   * @param manager owns the parameters
   * @return a block returning (output, weights)
   */
  AbstractBlock block(NDManager manager);

  /**
   * The block's inputs, in the order its {@code forward} takes them.
   *
   * @param manager owns the arrays
   * @return the inputs
   */
  NDList blockInputs(NDManager manager);

  /**
   * The exported graph's inputs by name ({@code x} or {@code query}, {@code key}, {@code value},
   * then {@code attn_mask}).
   *
   * @param manager owns the arrays
   * @return the inputs
   */
  Map<String, NDArray> onnxInputs(NDManager manager);

  /**
   * How to export the block for this case.
   *
   * @param opset 17 (decomposed) or 23 (the {@code Attention} operator)
   * @return the export options, with the case's mask input
   */
  ExportOptions exportOptions(int opset);

  /**
   * Turns the block's outputs into the case's named outputs.
   *
   * @param output the block's output
   * @param weights the block's head-averaged weights
   * @param manager owns the returned arrays
   * @return the outputs, compared with the oracle's by name
   */
  CaseOutputs fromBlock(NDArray output, NDArray weights, NDManager manager);
}
