package io.github.djlattention.cli;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.Shape;
import io.github.djlattention.ops.Attention;
import io.github.djlattention.ops.AttentionResult;
import java.io.PrintWriter;
import java.util.Locale;
import java.util.concurrent.Callable;
import picocli.CommandLine.Command;
import picocli.CommandLine.Model.CommandSpec;
import picocli.CommandLine.Spec;

/**
 * {@code djl-attention seed}: the seed document's walk-through ("[LLM] 9. Self Attention"),
 * computed with this library's own calls and printed step by step, each beside the PyTorch line it
 * mirrors.
 *
 * <p>The inputs are the document's: the taste vectors of its dot-product example and its 3×4 Q and
 * K (S = T = 3 tokens, D = 4 features). V is the 3×3 identity, so the weighted sum shows the
 * weights themselves. Output is ASCII so that it reads the same on any terminal.
 */
@Command(
    name = "seed",
    description = {
      "Prints the seed document's walk-through, computed by this library.",
      "Steps: the dot product 47, Q.K^T, softmax over dim=-1 (and dim=0), scaling",
      "by sqrt(d_k), the weighted sum with V; each beside its PyTorch line."
    })
final class SeedCommand implements Callable<Integer> {

  /** "me" and "Cheolsu" rate SF, action, romance and horror (section "Dot Product"). */
  private static final float[] ME = {5, 4, 1, 2};

  private static final float[] CHEOLSU = {4, 5, 1, 3};

  /** The document's Q and K: 3 tokens, 4 features each (section "Dot Product" example code). */
  private static final float[] Q = {
    1.0f, 0.5f, 0.3f, 0.2f, //
    0.8f, 1.2f, 0.4f, 0.7f, //
    0.5f, 0.3f, 1.5f, 0.6f
  };

  private static final float[] K = {
    0.9f, 0.4f, 0.2f, 0.1f, //
    1.0f, 1.1f, 0.5f, 0.8f, //
    0.4f, 0.2f, 1.2f, 0.5f
  };

  @Spec private CommandSpec spec;

  @Override
  public Integer call() {
    PrintWriter out = spec.commandLine().getOut();
    try (NDManager manager = NDManager.newBaseManager("PyTorch")) {
      out.println("The seed document \"[LLM] 9. Self Attention\", step by step with");
      out.println(
          "io.github.djlattention.ops.Attention on DJL's "
              + manager.getEngine().getEngineName()
              + " "
              + manager.getEngine().getVersion()
              + " engine.");

      NDArray me = manager.create(ME, new Shape(1, 4)); // (1, D)
      NDArray cheolsu = manager.create(CHEOLSU, new Shape(1, 4)); // (1, D)
      NDArray dot = Attention.dotProductScores(me, cheolsu); // (1, 1)
      step(
          out,
          "1. Dot product of two taste vectors (section \"Dot Product\")",
          "Score = (5x4)+(4x5)+(1x1)+(2x3)",
          "Attention.dotProductScores(me, cheolsu)   // me = [5, 4, 1, 2], cheolsu = [4, 5, 1, 3]");
      out.println("   = " + dot.getFloat(0, 0));

      NDArray q = manager.create(Q, new Shape(3, 4)); // (S, D)
      NDArray k = manager.create(K, new Shape(3, 4)); // (T, D)
      NDArray scores = Attention.dotProductScores(q, k); // (S, T)
      step(
          out,
          "2. Attention scores, Q times K transposed (section \"Dot Product\" example code)",
          "Attention_Scores = torch.matmul(Q, K.T)",
          "NDArray scores = Attention.dotProductScores(q, k);");
      out.println(tensor(scores));

      NDArray weights = Attention.softmax(scores, -1); // (S, T)
      step(
          out,
          "3. Softmax over the last axis: each row sums to 1 (section \"Softmax\")",
          "Attention_Weights = F.softmax(Attention_Scores, dim=-1)",
          "NDArray weights = Attention.softmax(scores, -1);");
      out.println(tensor(weights));
      out.println("   row sums " + vector(weights.sum(new int[] {1})));

      NDArray byColumn = Attention.softmax(scores, 0); // (S, T)
      step(
          out,
          "   ...and over dim=0 instead: each column sums to 1, rows do not",
          "F.softmax(Attention_Scores, dim=0)",
          "Attention.softmax(scores, 0)");
      out.println(tensor(byColumn));
      out.println("   column sums " + vector(byColumn.sum(new int[] {0})));
      out.println("   row sums    " + vector(byColumn.sum(new int[] {1})));

      NDArray scaled = Attention.scaledDotProductScores(q, k); // (S, T)
      NDArray scaledWeights = Attention.softmax(scaled, -1); // (S, T)
      step(
          out,
          "4. Scaled dot-product scores, d_k = 4 (section \"Scaled Dot-Product Attention\")",
          "attn_scores_scaled = torch.matmul(Q, K.T) / (d_k ** 0.5)",
          "NDArray scaled = Attention.scaledDotProductScores(q, k);");
      out.println(tensor(scaled));
      step(
          out,
          "   and their weights: flatter than in step 3",
          "attn_weights_scaled = F.softmax(attn_scores_scaled, dim=-1)",
          "NDArray scaledWeights = Attention.softmax(scaled, -1);");
      out.println(tensor(scaledWeights));

      NDArray v = manager.eye(3); // (T, Dv)
      NDArray output = Attention.weightedSum(scaledWeights, v); // (S, Dv)
      step(
          out,
          "5. Weighted sum of the values, V = 3x3 identity (sections \"Value\" and summary)",
          "output = torch.matmul(attn_weights_scaled, V)",
          "NDArray output = Attention.weightedSum(scaledWeights, v);");
      out.println(tensor(output));
      out.println("   each output row mixes the rows of V by that query's weights;");
      out.println("   with V = I the mix is the weight row itself");

      AttentionResult all = Attention.attention(q, k, v);
      float difference = all.output().sub(output).abs().max().getFloat();
      step(
          out,
          "6. Steps 2, 4 and 5 in one call",
          "F.scaled_dot_product_attention(Q, K, V)",
          "AttentionResult result = Attention.attention(q, k, v);");
      out.println("   max |result.output() - output| = " + format(difference));
    }
    return ExitCodes.OK;
  }

  private static void step(PrintWriter out, String title, String pytorch, String java) {
    out.println();
    out.println(title);
    out.println("   PyTorch: " + pytorch);
    out.println("   Java:    " + java);
  }

  /** Formats a matrix the way PyTorch prints it, with 4 decimals. */
  static String tensor(NDArray matrix) {
    Shape shape = matrix.getShape();
    if (shape.dimension() != 2) {
      throw new IllegalArgumentException("expected a matrix, got shape " + shape);
    }
    int rows = (int) shape.get(0);
    int cols = (int) shape.get(1);
    float[] data = matrix.toFloatArray();
    StringBuilder text = new StringBuilder("   tensor([");
    for (int i = 0; i < rows; i++) {
      if (i > 0) {
        text.append(",\n           ");
      }
      text.append('[');
      for (int j = 0; j < cols; j++) {
        text.append(j > 0 ? ", " : "").append(format(data[i * cols + j]));
      }
      text.append(']');
    }
    return text.append("])").toString();
  }

  private static String vector(NDArray values) {
    StringBuilder text = new StringBuilder("[");
    float[] data = values.toFloatArray();
    for (int i = 0; i < data.length; i++) {
      text.append(i > 0 ? ", " : "").append(format(data[i]));
    }
    return text.append(']').toString();
  }

  private static String format(float value) {
    return String.format(Locale.ROOT, "%.4f", value);
  }
}
