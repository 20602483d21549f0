package io.github.djlattention.ops;

import static io.github.djlattention.testing.TestTensors.assertClose;
import static io.github.djlattention.testing.TestTensors.doubles;
import static org.junit.jupiter.api.Assertions.assertTrue;

import ai.djl.engine.Engine;
import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.DataType;
import ai.djl.ndarray.types.Shape;
import ai.djl.training.GradientCollector;
import io.github.djlattention.reference.ReferenceAttention;
import io.github.djlattention.testing.NativeLifetime;
import io.github.djlattention.testing.TestTensors;
import java.util.ArrayList;
import java.util.List;
import java.util.Random;
import java.util.stream.Stream;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.Arguments;
import org.junit.jupiter.params.provider.MethodSource;

/**
 * Attention is differentiable wherever DJL records gradients (issue 10): inside a {@link
 * GradientCollector} the functional API gives the gradients of query, key, value and a float mask
 * that the step-by-step chain gives (float32), and that central finite differences of the float64
 * {@link ReferenceAttention} give (float64).
 */
class AttentionGradientsTest {

  /** A case: sizes, and which settings it uses. */
  record Config(
      String name,
      int b,
      int h,
      int g,
      int s,
      int t,
      int d,
      String mask,
      boolean causal,
      Double softcap) {
    @Override
    public String toString() {
      return name;
    }

    AttentionOptions options(NDArray maskArray) {
      AttentionOptions.Builder builder =
          AttentionOptions.builder().optMask(maskArray).optCausal(causal).optReturnWeights(false);
      if (softcap != null) {
        builder.optSoftcap(softcap);
      }
      return builder.build();
    }
  }

  static Stream<Config> configs() {
    return Stream.of(
        new Config("plain", 2, 2, 2, 5, 7, 4, "none", false, null),
        new Config("boolean mask", 1, 2, 2, 6, 6, 4, "bool", false, null),
        new Config("float mask", 2, 1, 1, 4, 6, 3, "float", false, null),
        new Config("causal", 1, 2, 2, 6, 6, 4, "none", true, null),
        new Config("causal with mask", 1, 2, 2, 5, 5, 4, "float", true, null),
        new Config("grouped-query", 1, 4, 2, 5, 6, 4, "none", false, null),
        new Config("grouped-query causal", 1, 4, 1, 6, 6, 4, "bool", true, null),
        new Config("softcap", 1, 2, 2, 5, 6, 4, "none", false, 1.5),
        new Config("softcap with mask", 1, 2, 1, 5, 6, 4, "float", true, 2.0),
        new Config("boolean mask hiding a row", 1, 2, 2, 4, 5, 4, "bool-hidden-row", false, null),
        new Config("-inf mask hiding a row", 1, 2, 1, 4, 5, 4, "float-inf-row", false, null),
        new Config("-FLT_MAX mask on a row (HF)", 2, 2, 2, 4, 5, 4, "float-min-row", true, null));
  }

  /** The inputs of one case, as doubles, and the weights of the loss Σ out·w. */
  record Data(double[] q, double[] k, double[] v, double[] mask, boolean[] keep, double[] w) {
    static Data of(Config c, long seed) {
      Random r = new Random(seed);
      double[] mask = new double[c.s * c.t];
      boolean[] keep = new boolean[c.s * c.t];
      for (int i = 0; i < mask.length; i++) {
        boolean hiddenRow = i / c.t == 1 && c.mask.endsWith("-row"); // row 1 sees no key
        keep[i] = !hiddenRow && (r.nextInt(4) != 0 || i % c.t == 0);
        mask[i] = r.nextGaussian();
        if (hiddenRow) {
          mask[i] = c.mask.equals("float-min-row") ? -Float.MAX_VALUE : Double.NEGATIVE_INFINITY;
        }
      }
      return new Data(
          TestTensors.uniform(r, c.b * c.h * c.s * c.d),
          TestTensors.uniform(r, c.b * c.g * c.t * c.d),
          TestTensors.uniform(r, c.b * c.g * c.t * c.d),
          mask,
          keep,
          TestTensors.uniform(r, c.b * c.h * c.s * c.d));
    }
  }

  /** The differentiable kernels: the chain, and the dispatcher's pick. */
  enum Path {
    CHAIN,
    DISPATCHER,
    FUSED_AUTOGRAD
  }

  /** The gradients of Σ out·w with respect to q, k, v (and a float mask), by DJL's autograd. */
  private static List<double[]> gradients(Config c, Data data, DataType dtype, Path path) {
    return gradients(c, data, dtype, path, () -> {});
  }

  /** As above, running {@code betweenForwardAndBackward} after the forward pass. */
  private static List<double[]> gradients(
      Config c, Data data, DataType dtype, Path path, Runnable betweenForwardAndBackward) {
    try (NDManager m = TestTensors.manager()) {
      NDArray q = TestTensors.create(m, data.q, dtype, c.b, c.h, c.s, c.d);
      NDArray k = TestTensors.create(m, data.k, dtype, c.b, c.g, c.t, c.d);
      NDArray v = TestTensors.create(m, data.v, dtype, c.b, c.g, c.t, c.d);
      NDArray w = TestTensors.create(m, data.w, dtype, c.b, c.h, c.s, c.d);
      NDArray mask = null;
      List<NDArray> inputs = new ArrayList<>(List.of(q, k, v));
      if (c.mask.startsWith("bool")) {
        mask = m.create(data.keep, new Shape(1, 1, c.s, c.t));
      } else if (c.mask.startsWith("float")) {
        mask = TestTensors.create(m, data.mask, dtype, 1, 1, c.s, c.t);
        inputs.add(mask);
      }
      for (NDArray input : inputs) {
        input.setRequiresGradient(true);
      }
      try (GradientCollector collector = Engine.getInstance().newGradientCollector()) {
        AttentionOptions options = c.options(mask);
        NDArray out;
        switch (path) {
          case CHAIN:
            out = Attention.attentionStepByStep(q, k, v, options).output();
            break;
          case DISPATCHER:
            out = Attention.attention(q, k, v, options).output();
            break;
          default:
            out =
                FastAttention.output(
                    q,
                    k,
                    v,
                    options,
                    FastAttention.Precision.INPUT,
                    FastAttention.Kernel.TORCHSCRIPT_AUTOGRAD,
                    FastAttention.DEFAULT_TILE_ELEMENTS);
        }
        NDArray loss = out.mul(w).sum();
        betweenForwardAndBackward.run();
        collector.backward(loss);
      }
      List<double[]> grads = new ArrayList<>();
      for (NDArray input : inputs) {
        grads.add(doubles(input.getGradient()));
      }
      return grads;
    }
  }

  /**
   * Regression (issue 10, memory lifetimes): DJL's {@code mul(Number)} and {@code div(Number)} make
   * the scalar over a Java direct buffer that only the closed scalar array held; autograd saves the
   * scalar for the backward pass, and once the garbage collector had freed the buffer the chain's
   * gradients read freed memory (NaN or garbage, about 1 case in 2,000 of the long differential
   * run). Garbage is collected and the memory reused between forward and backward here.
   */
  @ParameterizedTest(name = "{0} {1}")
  @MethodSource("kernels")
  void gradientsSurviveGarbageCollectionBetweenForwardAndBackward(Config c, Path path) {
    Data data = Data.of(c, 41);
    List<double[]> undisturbed = gradients(c, data, DataType.FLOAT32, path);
    List<double[]> collected =
        gradients(
            c,
            data,
            DataType.FLOAT32,
            path,
            () -> NativeLifetime.collectAndReuse(16, 64, 256, 4096));
    for (int i = 0; i < undisturbed.size(); i++) {
      assertClose(c + " " + path + " input " + i, undisturbed.get(i), collected.get(i), 0, 0);
    }
  }

  static Stream<Arguments> kernels() {
    return configs()
        .flatMap(
            c ->
                Stream.of(Path.DISPATCHER, Path.FUSED_AUTOGRAD)
                    .filter(p -> p != Path.FUSED_AUTOGRAD || c.softcap == null)
                    .map(p -> Arguments.of(c, p)));
  }

  @ParameterizedTest(name = "{0} {1}")
  @MethodSource("kernels")
  void float32GradientsEqualTheChains(Config c, Path path) {
    Data data = Data.of(c, 11);
    List<double[]> fast = gradients(c, data, DataType.FLOAT32, path);
    List<double[]> chain = gradients(c, data, DataType.FLOAT32, Path.CHAIN);
    String[] names = {"query", "key", "value", "mask"};
    for (int i = 0; i < chain.size(); i++) {
      assertNonZero(c + " " + names[i], fast.get(i));
      assertClose(c + " d/d" + names[i], chain.get(i), fast.get(i), 1e-5, 1e-5);
    }
  }

  @ParameterizedTest(name = "{0} {1}")
  @MethodSource("allPaths")
  void float64GradientsEqualFiniteDifferencesOfTheReference(Config c, Path path) {
    Data data = Data.of(c, 23);
    List<double[]> grads = gradients(c, data, DataType.FLOAT64, path);
    List<double[]> inputs = new ArrayList<>(List.of(data.q, data.k, data.v));
    if (c.mask.startsWith("float")) {
      inputs.add(data.mask);
    }
    double step = 1e-6;
    for (int i = 0; i < inputs.size(); i++) {
      double[] x = inputs.get(i);
      double[] expected = new double[x.length];
      double[] actual = new double[x.length];
      for (int e = 0; e < x.length; e++) {
        double saved = x[e];
        x[e] = saved + step;
        double plus = referenceLoss(c, data);
        x[e] = saved - step;
        double minus = referenceLoss(c, data);
        x[e] = saved;
        expected[e] = (plus - minus) / (2 * step);
        actual[e] = grads.get(i)[e];
      }
      assertClose(c + " input " + i + " vs finite differences", expected, actual, 1e-7, 1e-6);
    }
  }

  /**
   * Every path on every case but the −FLT_MAX row: there float rounding swallows the scores
   * (−FLT_MAX + s is −FLT_MAX, in float64 too), so the computed function is flat in q where
   * autograd differentiates the formula; the paths' gradients agree with each other there (the
   * float32 test), and finite differences cannot judge them.
   */
  static Stream<Arguments> allPaths() {
    return Stream.concat(kernels(), configs().map(c -> Arguments.of(c, Path.CHAIN)))
        .filter(a -> !((Config) a.get()[0]).mask.equals("float-min-row"));
  }

  /** Σ out·w of the float64 reference on the current data. */
  private static double referenceLoss(Config c, Data data) {
    ReferenceAttention.Tensor mask = null;
    int[] maskShape = {1, 1, c.s, c.t};
    if (c.mask.startsWith("bool")) {
      mask = ReferenceAttention.Options.additive(data.keep, maskShape);
    } else if (c.mask.startsWith("float")) {
      mask = new ReferenceAttention.Tensor(data.mask, maskShape);
    }
    ReferenceAttention.Result result =
        ReferenceAttention.attention(
            new ReferenceAttention.Tensor(data.q, new int[] {c.b, c.h, c.s, c.d}),
            new ReferenceAttention.Tensor(data.k, new int[] {c.b, c.g, c.t, c.d}),
            new ReferenceAttention.Tensor(data.v, new int[] {c.b, c.g, c.t, c.d}),
            new ReferenceAttention.Options(mask, c.causal, null, c.softcap));
    double loss = 0;
    double[] out = result.output().data();
    for (int i = 0; i < out.length; i++) {
      loss += out[i] * data.w[i];
    }
    return loss;
  }

  private static void assertNonZero(String what, double[] gradient) {
    double sum = 0;
    for (double g : gradient) {
      sum += Math.abs(g);
    }
    assertTrue(sum > 1e-6, what + ": the gradient is all zeros");
  }
}
