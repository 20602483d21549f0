package io.github.djlattention.ops.contrib;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.DataType;
import ai.djl.ndarray.types.Shape;
import java.util.List;
import java.util.Map;

/**
 * A node's inputs by their ONNX names, read for one {@code compute} call: each caller's array is
 * borrowed into the call's scope (a view whose results land in the scope), never attached, detached
 * or closed.
 */
final class ContribInputs {

  private final String op;
  private final Map<String, NDArray> inputs;
  private final NDManager scope;

  /**
   * Checks the names and opens nothing.
   *
   * @param op the operator's name, for messages
   * @param known the operator's input names
   * @param inputs the caller's inputs; a null value counts as absent
   * @param scope the call's scope
   * @throws IllegalArgumentException for a name the operator does not have
   */
  ContribInputs(String op, List<String> known, Map<String, NDArray> inputs, NDManager scope) {
    for (String name : inputs.keySet()) {
      if (!known.contains(name)) {
        throw new IllegalArgumentException(
            op + " has no input '" + name + "'; its inputs are " + known);
      }
    }
    this.op = op;
    this.inputs = inputs;
    this.scope = scope;
  }

  /** Whether the input is given. */
  boolean has(String name) {
    return inputs.get(name) != null;
  }

  /** The input's shape, or null when it is absent. */
  Shape shape(String name) {
    NDArray array = inputs.get(name);
    return array == null ? null : array.getShape();
  }

  /**
   * A required input, borrowed into the scope.
   *
   * @throws IllegalArgumentException when it is absent
   */
  NDArray required(String name) {
    NDArray array = inputs.get(name);
    if (array == null) {
      throw new IllegalArgumentException(op + " needs the input '" + name + "'");
    }
    return borrow(array);
  }

  /** An optional input borrowed into the scope, or null. */
  NDArray optional(String name) {
    NDArray array = inputs.get(name);
    return array == null ? null : borrow(array);
  }

  /**
   * An optional integer input's values, in C order.
   *
   * @return the values, or null when the input is absent
   * @throws IllegalArgumentException when it is not an integer array
   */
  long[] integers(String name) {
    NDArray array = inputs.get(name);
    if (array == null) {
      return null;
    }
    if (!array.getDataType().isInteger()) {
      throw new IllegalArgumentException(
          op + " input '" + name + "' must be int32, got " + array.getDataType());
    }
    NDArray view = borrow(array);
    return view.toType(DataType.INT64, false).toLongArray();
  }

  /**
   * An optional integer input that holds one value (shape () or (1)).
   *
   * @return the value, or null when the input is absent
   * @throws IllegalArgumentException when it holds more than one value
   */
  Long scalar(String name) {
    long[] values = integers(name);
    if (values == null) {
      return null;
    }
    if (values.length != 1) {
      throw new IllegalArgumentException(
          op + " input '" + name + "' must hold one value, got shape " + shape(name));
    }
    return values[0];
  }

  private NDArray borrow(NDArray array) {
    if (!array.getDataType().isFloating() && !array.getDataType().isInteger()) {
      throw new IllegalArgumentException(
          op + " takes numeric inputs, got " + array.getDataType() + " " + array.getShape());
    }
    NDArray view = array.reshape(array.getShape()); // a new handle, in the caller's manager ...
    view.attach(scope); // ... moved to ours: the caller's array stays the caller's
    return view;
  }

  /** A message prefix naming the operator. */
  String op() {
    return op;
  }
}
