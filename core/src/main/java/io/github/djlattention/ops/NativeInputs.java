package io.github.djlattention.ops;

import ai.djl.Device;
import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.types.DataType;
import ai.djl.ndarray.types.Shape;
import ai.djl.pytorch.engine.PtNDArray;
import ai.djl.pytorch.jni.JniUtils;
import java.nio.ByteBuffer;

/**
 * What the project's C kernels are handed, in one place: direct buffers over the tensors, the
 * mask's type code and strides, and the checks every kernel makes of a call's arrays.
 */
final class NativeInputs {

  /** The largest tensor a kernel takes: a direct ByteBuffer holds at most 2³¹ − 1 bytes. */
  static final long MAX_TENSOR_BYTES = Integer.MAX_VALUE;

  private NativeInputs() {}

  /**
   * A direct buffer over the tensor's memory. DJL copies a non-contiguous tensor first, into the
   * tensor's own manager: pass a view borrowed into the call's scope, never a caller's array.
   */
  static ByteBuffer buffer(NDArray array) {
    return JniUtils.getByteBuffer((PtNDArray) array, true);
  }

  /** The sizes a kernel's plan takes: B, H, G, S, T, D, Dv. */
  static long[] dims(AttentionShape shape) {
    return new long[] {
      shape.batch(),
      shape.heads(),
      shape.kvHeads(),
      shape.queryLength(),
      shape.keyLength(),
      shape.headSize(),
      shape.valueHeadSize()
    };
  }

  /** The output a kernel writes: (B, H, S, Dv), or (B, S, H, Dv) for a sequence-first call. */
  static Shape outputShape(AttentionCall call) {
    AttentionShape shape = call.shape();
    return call.sequenceFirst()
        ? new Shape(shape.batch(), shape.queryLength(), shape.heads(), shape.valueHeadSize())
        : shape.output4d();
  }

  /**
   * The kernels' code for the mask's type: 0 none, 1 boolean, 2 float32.
   *
   * @param kernel the kernel's name in the message, e.g. {@code native}
   * @throws IllegalArgumentException for a mask of another type
   */
  static int maskType(NDArray mask, String kernel) {
    if (mask == null) {
      return 0;
    }
    if (mask.getDataType() == DataType.BOOLEAN) {
      return 1;
    }
    if (mask.getDataType() == DataType.FLOAT32) {
      return 2;
    }
    throw new IllegalArgumentException(
        "the " + kernel + " kernel takes boolean or float32 masks, got " + mask.getDataType());
  }

  /** Element strides of a C-order 4-D mask along B, H, S, T; 0 along axes of size 1. */
  static long[] maskStrides(NDArray mask) {
    long[] strides = new long[4];
    if (mask == null) {
      return strides;
    }
    Shape shape = mask.getShape(); // (B|1, H|1, S|1, T|1)
    long stride = 1;
    for (int axis = 3; axis >= 0; axis--) {
      strides[axis] = shape.get(axis) == 1 ? 0 : stride;
      stride *= shape.get(axis);
    }
    return strides;
  }

  /**
   * Names what keeps a call's arrays from a C kernel, or returns null when it takes them:
   * PyTorch-engine arrays on the CPU, query, key and value neither empty nor over 2 GiB.
   *
   * @param call the call
   * @param kernel the kernel's name in messages, e.g. {@code native}
   */
  static String unsupportedArrays(AttentionCall call, String kernel) {
    if (!call.pytorch() || !Device.cpu().equals(call.device())) {
      return "the " + kernel + " kernel needs PyTorch-engine arrays on the CPU";
    }
    AttentionCall.Inputs in = call.inputs();
    for (NDArray array : new NDArray[] {in.query(), in.key(), in.value()}) {
      if (array.getShape().size() == 0) {
        return "the " + kernel + " kernel takes no empty tensors, got " + array.getShape();
      }
      if (array.getShape().size() * Float.BYTES > MAX_TENSOR_BYTES) {
        return "the " + kernel + " kernel takes tensors of at most 2 GiB, got " + array.getShape();
      }
    }
    return null;
  }
}
