package io.github.djlattention.ops;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.Shape;
import java.nio.file.Files;
import java.nio.file.Path;

/**
 * Run in a fresh JVM by {@link ThreadChoiceTest}: asks which threads the native kernel uses before
 * anything has loaded the PyTorch engine, then runs a call, and prints one {@code result} line: the
 * description before and after, whether the kernel runs on libtorch's OpenMP team, and whether a
 * libgomp is mapped into the process.
 */
final class ThreadChoiceProbe {

  private ThreadChoiceProbe() {}

  public static void main(String[] args) throws Exception {
    String before = FastAttention.float32Kernel(); // the first thing the process does
    try (NDManager manager = NDManager.newBaseManager("PyTorch")) {
      NDArray x = manager.ones(new Shape(1, 2, 8, 16));
      AttentionOptions options = AttentionOptions.builder().optReturnWeights(false).build();
      Attention.attention(x, x, x, options).output().toFloatArray();
    }
    String after = FastAttention.float32Kernel();
    boolean libgomp = Files.readString(Path.of("/proc/self/maps")).contains("libgomp");
    System.out.println(
        "result available="
            + NativeAttentionKernel.available()
            + "|instructions="
            + NativeAttentionKernel.instructionSet()
            + "|openmp="
            + NativeAttentionKernel.usesOpenMp()
            + "|libgomp="
            + libgomp
            + "|before="
            + before
            + "|after="
            + after);
  }
}
