package io.github.djlattention.blocks;

import ai.djl.MalformedModelException;
import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.index.NDIndex;
import ai.djl.ndarray.types.Shape;
import ai.djl.nn.Block;
import ai.djl.nn.Parameter;
import ai.djl.nn.ParameterList;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;

/** Reads and writes the named parameters of an initialized block. */
public final class BlockParameters {

  private BlockParameters() {}

  /**
   * Returns the current value of a parameter.
   *
   * @param block an initialized block
   * @param name the parameter name, e.g. {@code q_proj.weight}
   * @return the parameter's array
   * @throws IllegalArgumentException when the block has no such parameter
   * @throws IllegalStateException when the block is not initialized
   */
  public static NDArray get(Block block, String name) {
    Parameter parameter = find(block, name);
    if (!parameter.isInitialized()) {
      throw new IllegalStateException(
          "parameter " + name + " is not initialized: call block.initialize(...) first");
    }
    return parameter.getArray();
  }

  /**
   * Copies {@code value} into a parameter, converting it to the parameter's dtype.
   *
   * @param block an initialized block
   * @param name the parameter name, e.g. {@code q_proj.weight}
   * @param value an array of the parameter's shape
   * @throws IllegalArgumentException when the block has no such parameter or the shape differs
   * @throws IllegalStateException when the block is not initialized
   */
  public static void set(Block block, String name, NDArray value) {
    NDArray target = get(block, name);
    if (!target.getShape().equals(value.getShape())) {
      throw new IllegalArgumentException(
          "parameter "
              + name
              + " has shape "
              + target.getShape()
              + ", the new value "
              + value.getShape());
    }
    // An indexed set, not copyTo or set(Buffer): on DJL 0.36's PyTorch engine those print a
    // libtorch deprecation warning (AutoNonVariableTypeMode) on the process's stderr, which the
    // CLI's one-line error policy cannot take back. The indexed set is in-place, which PyTorch
    // allows on a parameter only while it does not require a gradient.
    NDArray converted = value.toType(target.getDataType(), false);
    boolean gradient = target.hasGradient();
    if (gradient) {
      target.setRequiresGradient(false);
    }
    try {
      target.set(new NDIndex("..."), converted);
    } finally {
      if (gradient) {
        target.setRequiresGradient(true);
      }
    }
  }

  /**
   * Checks, after DJL loaded a block's parameters from a file, that every array has the shape the
   * block's layout gives it: DJL's {@code Parameter.load} takes whatever shape the file holds.
   *
   * @param block the block just loaded
   * @throws MalformedModelException naming each parameter whose shape differs, with both shapes
   */
  static void requireLoadedShapes(AttentionBlock block) throws MalformedModelException {
    List<String> mismatches = new ArrayList<>();
    for (Map.Entry<String, Shape> entry : block.getLayout().parameterShapes().entrySet()) {
      Parameter parameter = block.getParameters().get(entry.getKey());
      if (parameter != null && parameter.isInitialized()) {
        Shape loaded = parameter.getArray().getShape();
        if (!loaded.equals(entry.getValue())) {
          mismatches.add(
              entry.getKey()
                  + " is "
                  + loaded
                  + " in the file, the block needs "
                  + entry.getValue());
        }
      }
    }
    if (!mismatches.isEmpty()) {
      throw new MalformedModelException(
          "the saved parameters do not fit "
              + block
              + ": "
              + String.join("; ", mismatches)
              + " (saved by a block of other sizes or heads?)");
    }
  }

  private static Parameter find(Block block, String name) {
    ParameterList parameters = block.getParameters();
    if (!parameters.contains(name)) {
      throw new IllegalArgumentException(
          "the block has no parameter " + name + "; it has " + parameters.keys());
    }
    return parameters.get(name);
  }
}
