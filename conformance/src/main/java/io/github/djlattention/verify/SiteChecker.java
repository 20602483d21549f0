package io.github.djlattention.verify;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDList;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.DataType;
import ai.djl.ndarray.types.Shape;
import ai.djl.nn.AbstractBlock;
import ai.djl.training.ParameterStore;
import io.github.djlattention.blocks.AttentionWeights;
import io.github.djlattention.blocks.StateDicts;
import io.github.djlattention.compare.ElementComparison;
import io.github.djlattention.compare.Tolerance;
import io.github.djlattention.onnx.inspect.AttentionSite;
import io.github.djlattention.ops.AttentionOptions;
import io.github.djlattention.ops.AttentionResult;
import io.github.djlattention.reference.ReferenceAttention;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Optional;

/**
 * Recomputes one site and compares: the core from the captured Q, K, V and mask with the project's
 * attention (with the weights, the step-by-step chain; without, the fast path and its default
 * kernel) and with the float64 {@link ReferenceAttention}; where the projections are known, the
 * sublayer through a {@code MultiHeadAttentionBlock} with the graph's weights, against the same in
 * float64. ONNX Runtime's captured results are compared with the reference too.
 *
 * <p>Shape legend: B batch, H heads, G key/value heads, S query length, T key length, D head size,
 * E embedding.
 */
final class SiteChecker {

  /** The oracle's name in reports. */
  static final String REFERENCE = "float64-reference";

  /** ONNX Runtime's name in reports. */
  static final String ORT = "onnxruntime";

  /** The project's functional API with the weights. */
  static final String DJL = "djl";

  /** The project's fast path. */
  static final String DJL_FAST = "djl-fast";

  /** The project's block over the whole sublayer. */
  static final String DJL_BLOCK = "djl-block";

  private final VerifySettings settings;

  SiteChecker(VerifySettings settings) {
    this.settings = settings;
  }

  /** Checks one site; never throws for the site's own problems (they become its verdict). */
  SiteResult check(AttentionSite site, SiteTensors tensors, NDManager manager) {
    SiteTensors.Core core;
    try {
      core = tensors.core();
    } catch (SiteTensors.NotVerifiable e) {
      return notVerified(site, e.getMessage());
    }
    List<SiteResult.Check> checks = new ArrayList<>();
    long[] q = core.query().getShape().getShape();
    long[] k = core.key().getShape().getShape();
    long[] v = core.value().getShape().getShape();
    String shapes =
        "query "
            + new Shape(q)
            + ", key "
            + new Shape(k)
            + ", value "
            + new Shape(v)
            + (core.mask() == null ? ", no mask" : ", mask " + core.mask().getShape());

    // The float64 reference on the captured inputs.
    ReferenceAttention.Result reference =
        ReferenceAttention.attention(
            tensor(core.query()),
            tensor(core.key()),
            tensor(core.value()),
            new ReferenceAttention.Options(
                core.mask() == null ? null : tensor(core.mask()),
                core.causal(),
                core.scale(),
                core.softcap()));
    double[] refOutput = reference.output().data();
    double[] refWeights = reference.weights().data();
    long[] outputShape = longs(reference.output().shape());
    long[] weightsShape = longs(reference.weights().shape());

    // ONNX Runtime, as captured.
    checks.add(compare(ORT, "output", refOutput, doubles(core.ortOutput()), outputShape, 1, false));
    if (core.ortWeights() != null) {
      checks.add(
          compare(ORT, "weights", refWeights, doubles(core.ortWeights()), weightsShape, 1, false));
    }

    // The project: with the weights (step by step), then the output alone (fast path).
    float[][] projectMaps = null;
    try (NDManager scope = manager.newSubManager()) {
      AttentionResult withWeights =
          settings.attention().apply(core.query(), core.key(), core.value(), options(core, true));
      checks.add(
          compare(DJL, "output", refOutput, doubles(withWeights.output()), outputShape, 1, false));
      if (withWeights.hasWeights()) {
        double[] weights = doubles(withWeights.weights());
        checks.add(compare(DJL, "weights", refWeights, weights, weightsShape, 1, false));
        projectMaps = maps(weights, weightsShape);
      }
      withWeights.output().attach(scope);
      if (withWeights.hasWeights()) {
        withWeights.weights().attach(scope);
      }
    } catch (RuntimeException e) {
      checks.add(failed(DJL, "output", e));
    }
    try (NDManager scope = manager.newSubManager()) {
      AttentionResult fast =
          settings.attention().apply(core.query(), core.key(), core.value(), options(core, false));
      fast.output().attach(scope);
      checks.add(
          compare(DJL_FAST, "output", refOutput, doubles(fast.output()), outputShape, 1, false));
    } catch (RuntimeException e) {
      checks.add(failed(DJL_FAST, "output", e));
    }

    String sublayerNote;
    try {
      sublayerNote = sublayer(site, tensors, core, manager, checks);
    } catch (SiteTensors.NotVerifiable e) {
      sublayerNote = "not checked: " + e.getMessage();
    }
    SiteResult.HeadMaps maps =
        new SiteResult.HeadMaps(
            Math.min(settings.mapBatch(), (int) weightsShape[0] - 1),
            (int) weightsShape[2],
            (int) weightsShape[3],
            listOf(maps(refWeights, weightsShape)),
            core.ortWeights() == null
                ? List.of()
                : listOf(maps(doubles(core.ortWeights()), weightsShape)),
            projectMaps == null ? List.of() : listOf(projectMaps));
    return new SiteResult(
        site, verdict(site, checks), checks, shapes, core.scale(), sublayerNote, maps);
  }

  private static AttentionOptions options(SiteTensors.Core core, boolean weights) {
    AttentionOptions.Builder builder =
        AttentionOptions.builder()
            .optScale(core.scale())
            .optCausal(core.causal())
            .optReturnWeights(weights);
    if (core.mask() != null) {
      builder.optMask(core.mask());
    }
    if (core.softcap() != null) {
      builder.optSoftcap(core.softcap());
    }
    return builder.build();
  }

  /** The sublayer through the block and in float64; adds the checks and returns how it was fed. */
  private String sublayer(
      AttentionSite site,
      SiteTensors tensors,
      SiteTensors.Core core,
      NDManager manager,
      List<SiteResult.Check> checks) {
    Optional<SiteTensors.Sublayer> found = tensors.sublayer();
    if (found.isEmpty()) {
      return "not checked: the projections around the site were not all found";
    }
    SiteTensors.Sublayer sub = found.get();
    int heads = (int) core.query().getShape().get(1);
    int headSize = (int) core.query().getShape().get(3);
    if (core.softcap() != null || core.causal()) {
      return "not checked: the block has no softcap and takes causal masks only as a mask input";
    }
    // The block scales by 1/sqrt(D); another scale is folded into the query projection.
    double fold = core.scale() * Math.sqrt(headSize);
    boolean folded = Math.abs(fold - 1) > 1e-6;
    LinearWeights blockQuery = folded ? sub.query().times(fold) : sub.query();
    String name = sub.output() != null ? "sublayer" : "merged";

    double[] reference = referenceSublayer(sub, core, heads);
    long[] shape = sub.ortResult().getShape().getShape();
    checks.add(
        compare(
            ORT, name, reference, doubles(sub.ortResult()), shape, 2, sub.output() == null, heads));
    try (NDManager scope = manager.newSubManager()) {
      Map<String, NDArray> dict = new LinkedHashMap<>();
      put(dict, "q_proj", blockQuery, scope);
      put(dict, "k_proj", sub.key(), scope);
      put(dict, "v_proj", sub.value(), scope);
      if (sub.output() != null) {
        put(dict, "out_proj", sub.output(), scope);
      }
      AbstractBlock block = StateDicts.load(scope, dict, heads, false, AttentionWeights.NONE);
      NDList inputs = new NDList(sub.queryInput(), sub.keyInput(), sub.valueInput());
      if (core.mask() != null) {
        inputs.add(core.mask());
      }
      NDList result = block.forward(new ParameterStore(scope, false), inputs, false);
      checks.add(
          compare(
              DJL_BLOCK,
              name,
              reference,
              doubles(result.get(0)),
              shape,
              2,
              sub.output() == null,
              heads));
    } catch (RuntimeException e) {
      checks.add(failed(DJL_BLOCK, name, e));
    }
    String where =
        sub.output() != null
            ? "the block with the graph's Q, K, V and output projections, against "
                + sub.ortTensor()
            : "the block with the graph's Q, K and V projections, against " + sub.ortTensor();
    return where
        + "; "
        + sub.inputs()
        + (folded ? "; the scale folded into the query projection" : "");
  }

  private static void put(Map<String, NDArray> dict, String name, LinearWeights w, NDManager m) {
    dict.put(name + ".weight", m.create(toFloats(w.weight()), new Shape(w.out(), w.in())));
    if (w.bias() != null) {
      dict.put(name + ".bias", m.create(toFloats(w.bias()), new Shape(w.out())));
    }
  }

  /** The sublayer in float64: projections, the reference attention, the output projection. */
  private static double[] referenceSublayer(
      SiteTensors.Sublayer sub, SiteTensors.Core core, int heads) {
    long[] qs = sub.queryInput().getShape().getShape();
    long[] ks = sub.keyInput().getShape().getShape();
    int batch = (int) qs[0];
    int s = (int) qs[1];
    int t = (int) ks[1];
    double[] q = sub.query().apply(doubles(sub.queryInput()), batch * s); // (B, S, H·D)
    double[] k = sub.key().apply(doubles(sub.keyInput()), batch * t); // (B, T, G·D)
    double[] v = sub.value().apply(doubles(sub.valueInput()), batch * t); // (B, T, G·Dv)
    int headSize = sub.query().out() / heads;
    int kvHeads = sub.key().out() / headSize;
    int valueSize = sub.value().out() / kvHeads;
    ReferenceAttention.Result attention =
        ReferenceAttention.attention(
            perHead(q, batch, s, heads, headSize),
            perHead(k, batch, t, kvHeads, headSize),
            perHead(v, batch, t, kvHeads, valueSize),
            new ReferenceAttention.Options(
                core.mask() == null ? null : tensor(core.mask()), false, core.scale(), null));
    double[] merged = merge(attention.output().data(), batch, heads, s, valueSize); // (B, S, H·Dv)
    return sub.output() == null ? merged : sub.output().apply(merged, batch * s);
  }

  /** (B, L, N·D) as a (B, N, L, D) tensor. */
  private static ReferenceAttention.Tensor perHead(double[] x, int b, int l, int n, int d) {
    double[] out = new double[x.length];
    for (int bi = 0; bi < b; bi++) {
      for (int li = 0; li < l; li++) {
        for (int ni = 0; ni < n; ni++) {
          System.arraycopy(x, ((bi * l + li) * n + ni) * d, out, ((bi * n + ni) * l + li) * d, d);
        }
      }
    }
    return new ReferenceAttention.Tensor(out, new int[] {b, n, l, d});
  }

  /** (B, H, S, D) as (B, S, H·D). */
  private static double[] merge(double[] x, int b, int h, int s, int d) {
    double[] out = new double[x.length];
    for (int bi = 0; bi < b; bi++) {
      for (int hi = 0; hi < h; hi++) {
        for (int si = 0; si < s; si++) {
          System.arraycopy(x, ((bi * h + hi) * s + si) * d, out, ((bi * s + si) * h + hi) * d, d);
        }
      }
    }
    return out;
  }

  private SiteResult.Check compare(
      String implementation,
      String output,
      double[] expected,
      double[] actual,
      long[] shape,
      int tolerance,
      boolean merged) {
    return compare(implementation, output, expected, actual, shape, tolerance, merged, 0);
  }

  /**
   * Compares with the core's (tolerance 1) or the sublayer's (2) tolerance; per head along axis 1
   * for (B, H, ...) outputs, or per column block of the merged heads.
   */
  private SiteResult.Check compare(
      String implementation,
      String output,
      double[] expected,
      double[] actual,
      long[] shape,
      int tolerance,
      boolean merged,
      int heads) {
    double rtol = tolerance == 1 ? settings.coreRtol() : settings.sublayerRtol();
    double atol = tolerance == 1 ? settings.coreAtol() : settings.sublayerAtol();
    long size = 1;
    for (long d : shape) {
      size *= d;
    }
    if (actual.length != size || expected.length != size) {
      return new SiteResult.Check(
          implementation,
          output,
          null,
          List.of(),
          "shape: " + actual.length + " values where " + new Shape(shape) + " was expected");
    }
    double floor = ElementComparison.relativeFloor(expected, settings.relFloor());
    Tolerance bounds = new Tolerance(rtol, atol);
    ElementComparison whole = ElementComparison.compare(expected, actual, shape, bounds, floor);
    List<ElementComparison> perHead;
    if (tolerance == 1) {
      perHead = ElementComparison.perIndex(expected, actual, shape, 1, bounds, floor);
    } else if (merged && heads > 0 && shape[shape.length - 1] % heads == 0) {
      long[] split = {shape[0], shape[1], heads, shape[2] / heads}; // (B, S, H, D)
      perHead = ElementComparison.perIndex(expected, actual, split, 2, bounds, floor);
    } else {
      perHead = List.of();
    }
    return new SiteResult.Check(implementation, output, whole, perHead, null);
  }

  private static SiteResult.Check failed(String implementation, String output, RuntimeException e) {
    String message = e.getMessage() == null ? e.getClass().getSimpleName() : e.getMessage();
    int newline = message.indexOf('\n');
    return new SiteResult.Check(
        implementation,
        output,
        null,
        List.of(),
        newline < 0 ? message : message.substring(0, newline));
  }

  /** The verdict: who deviates, with the outputs and heads named. */
  static SiteVerdict verdict(AttentionSite site, List<SiteResult.Check> checks) {
    if (checks.isEmpty()) {
      return new SiteVerdict(
          SiteVerdict.Kind.NOT_VERIFIED, List.of(), site.layer() + ": nothing was compared");
    }
    List<String> deviating = new ArrayList<>();
    List<String> details = new ArrayList<>();
    for (SiteResult.Check check : checks) {
      if (check.agrees()) {
        continue;
      }
      if (!deviating.contains(check.implementation())) {
        deviating.add(check.implementation());
      }
      details.add(describe(check));
    }
    boolean ort = deviating.contains(ORT);
    boolean project = deviating.stream().anyMatch(d -> !d.equals(ORT));
    SiteVerdict.Kind kind =
        !ort && !project
            ? SiteVerdict.Kind.ALL_AGREE
            : ort && !project
                ? SiteVerdict.Kind.ONNX_RUNTIME_DEVIATES
                : !ort ? SiteVerdict.Kind.PROJECT_DEVIATES : SiteVerdict.Kind.BOTH_DEVIATE;
    String summary =
        kind == SiteVerdict.Kind.ALL_AGREE
            ? site.layer() + ": onnxruntime and the project agree with " + REFERENCE
            : site.layer() + ": " + String.join("; ", details);
    return new SiteVerdict(kind, deviating, summary);
  }

  private static String describe(SiteResult.Check check) {
    if (check.error() != null) {
      return check.implementation() + " " + check.output() + " failed: " + check.error();
    }
    ElementComparison w = check.whole();
    List<Integer> heads = check.deviatingHeads();
    return String.format(
        java.util.Locale.ROOT,
        "%s deviates from %s on %s (%d of %d elements outside rtol %.1g, atol %.1g; max abs %.3g"
            + " at %s: expected %.6g, got %.6g%s)",
        check.implementation(),
        REFERENCE,
        check.output(),
        w.mismatched(),
        w.statistics().elements(),
        w.tolerance().rtol(),
        w.tolerance().atol(),
        w.statistics().maxAbsError(),
        w.worst().indexText(),
        w.worst().expected(),
        w.worst().actual(),
        heads.isEmpty() || heads.size() == check.perHead().size()
            ? (heads.isEmpty() ? "" : "; every head")
            : "; heads " + heads);
  }

  static SiteResult notVerified(AttentionSite site, String reason) {
    return new SiteResult(
        site,
        new SiteVerdict(
            SiteVerdict.Kind.NOT_VERIFIED, List.of(), site.layer() + ": not verified: " + reason),
        List.of(),
        "",
        Double.NaN,
        "not checked",
        null);
  }

  /** (B, H, S, T) weights as one (S, T) map per head of the chosen batch element. */
  private float[][] maps(double[] weights, long[] shape) {
    int b = Math.min(settings.mapBatch(), (int) shape[0] - 1);
    int h = (int) shape[1];
    int size = (int) (shape[2] * shape[3]);
    float[][] maps = new float[h][size];
    for (int head = 0; head < h; head++) {
      int base = (b * h + head) * size;
      for (int i = 0; i < size; i++) {
        maps[head][i] = (float) weights[base + i];
      }
    }
    return maps;
  }

  private static List<float[]> listOf(float[][] maps) {
    return List.of(maps);
  }

  private static ReferenceAttention.Tensor tensor(NDArray array) {
    long[] shape = array.getShape().getShape();
    int[] dims = new int[shape.length];
    for (int i = 0; i < shape.length; i++) {
      dims[i] = Math.toIntExact(shape[i]);
    }
    return new ReferenceAttention.Tensor(doubles(array), dims);
  }

  static double[] doubles(NDArray array) {
    try (NDArray asDouble = array.toType(DataType.FLOAT64, true)) {
      return asDouble.toDoubleArray();
    }
  }

  private static float[] toFloats(double[] values) {
    float[] out = new float[values.length];
    for (int i = 0; i < values.length; i++) {
      out[i] = (float) values[i];
    }
    return out;
  }

  private static long[] longs(int[] shape) {
    long[] out = new long[shape.length];
    for (int i = 0; i < shape.length; i++) {
      out[i] = shape[i];
    }
    return out;
  }
}
