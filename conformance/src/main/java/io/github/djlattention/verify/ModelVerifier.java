package io.github.djlattention.verify;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import ai.onnx.proto.OnnxMl.ModelProto;
import ai.onnx.proto.OnnxMl.OperatorSetIdProto;
import ai.onnxruntime.OrtEnvironment;
import io.github.djlattention.onnx.inspect.AttentionFinder;
import io.github.djlattention.onnx.inspect.AttentionSite;
import io.github.djlattention.onnx.inspect.ModelGraph;
import io.github.djlattention.onnx.inspect.ModelTaps;
import io.github.djlattention.ort.OrtDevice;
import io.github.djlattention.ort.OrtRunner;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.function.Consumer;

/**
 * Verifies every attention of a model: finds the sites ({@link AttentionFinder}), runs the model
 * once on ONNX Runtime with every site's tensors exposed as graph outputs (on a copy of the model
 * in memory), runs the unmodified model to show that exposing them changed nothing, then recomputes
 * each site with the project and with the float64 reference and compares all of them ({@link
 * SiteChecker}).
 *
 * <pre>{@code
 * try (NDManager manager = NDManager.newBaseManager()) {
 *   ModelInputs inputs = ModelInputs.fromNpz(Path.of("inputs.npz"), manager);
 *   ModelReport report =
 *       ModelVerifier.builder().build().verify(Path.of("model.onnx"), inputs, manager);
 *   System.out.println(report.allAgree());
 * }
 * }</pre>
 */
public final class ModelVerifier {

  private final VerifySettings settings;
  private final OrtDevice device;
  private final int threads;
  private final Duration timeout;
  private final Consumer<String> progress;
  private final Path caseDirectory;
  private final Set<Integer> caseSites;

  private ModelVerifier(Builder builder) {
    this.settings = builder.settings;
    this.device = builder.device;
    this.threads = builder.threads;
    this.timeout = builder.timeout;
    this.progress = builder.progress;
    this.caseDirectory = builder.caseDirectory;
    this.caseSites = Set.copyOf(builder.caseSites);
  }

  /**
   * Starts a builder.
   *
   * @return a builder with the default settings, CPU, all cores, the default timeout and no
   *     progress output
   */
  public static Builder builder() {
    return new Builder();
  }

  /**
   * Verifies a model file.
   *
   * @param model the {@code .onnx} file
   * @param inputs the inputs of the run
   * @param manager owns the arrays of the run
   * @return the report
   * @throws IllegalArgumentException when the model cannot be read, keeps external data, has no
   *     attention site, or does not take the inputs (ONNX Runtime's message is kept)
   */
  public ModelReport verify(Path model, ModelInputs inputs, NDManager manager) {
    return verify(model, AttentionFinder.read(model), inputs, manager);
  }

  /**
   * Verifies a model that the caller has read already.
   *
   * @param model the {@code .onnx} file (ONNX Runtime loads the unmodified model from it)
   * @param proto the file's contents, as {@link AttentionFinder#read} returns them
   * @param inputs the inputs of the run
   * @param manager owns the arrays of the run
   * @return the report
   * @throws IllegalArgumentException as {@link #verify(Path, ModelInputs, NDManager)}
   */
  public ModelReport verify(Path model, ModelProto proto, ModelInputs inputs, NDManager manager) {
    long start = System.nanoTime();
    ModelGraph graph = new ModelGraph(proto);
    if (graph.usesExternalData()) {
      throw new IllegalArgumentException(
          model + " keeps tensors in external data files, which verify-model does not read yet");
    }
    List<AttentionSite> sites = AttentionFinder.find(graph);
    if (sites.isEmpty()) {
      throw new IllegalArgumentException(
          "no attention site found in " + model + " (run inspect to see what the graph holds)");
    }
    inputs.requireExactly(graph.inputs());
    progress.accept(
        "verify-model: " + sites.size() + " attention site(s) in " + model.getFileName());

    Set<String> wanted = new LinkedHashSet<>();
    for (AttentionSite site : sites) {
      wanted.addAll(CapturePlan.tensors(site));
    }
    List<String> taps = ModelTaps.computed(graph, wanted);
    byte[] tapped = ModelTaps.tap(graph, taps).toByteArray();
    Map<String, NDArray> values = new LinkedHashMap<>(inputs.arrays());
    Map<String, NDArray> tappedOutputs;
    progress.accept(
        "verify-model: running "
            + model.getFileName()
            + " on ONNX Runtime ("
            + device
            + ") with "
            + taps.size()
            + " tensors exposed");
    try (OrtRunner runner = runner().build(tapped)) {
      tappedOutputs = runner.run(inputs.arrays(), manager);
    }
    values.putAll(tappedOutputs);
    double tapEffect = 0;
    try (OrtRunner runner = runner().build(model)) {
      Map<String, NDArray> plain = runner.run(inputs.arrays(), manager);
      for (Map.Entry<String, NDArray> entry : plain.entrySet()) {
        NDArray tappedValue = tappedOutputs.get(entry.getKey());
        tapEffect = Math.max(tapEffect, maxDifference(entry.getValue(), tappedValue));
      }
    }

    SiteChecker checker = new SiteChecker(settings);
    List<SiteResult> results = new ArrayList<>();
    List<String> cases = new ArrayList<>();
    for (AttentionSite site : sites) {
      SiteResult result;
      try (NDManager scope = manager.newSubManager()) {
        SiteTensors tensors = new SiteTensors(site, graph, values, scope);
        result = checker.check(site, tensors, scope);
        if (wantsCase(result)) {
          Path folder = caseDirectory.resolve(BackendCase.folderName(site));
          BackendCase.write(
              folder, model.toString(), site, tensors.core(), result.verdict().summary(), scope);
          cases.add(folder.toString());
          progress.accept("verify-model: wrote the case " + folder);
        }
      }
      results.add(result);
      progress.accept(
          String.format(
              "verify-model: [%d/%d] %s: %s",
              results.size(), sites.size(), site.layer(), label(result.verdict())));
    }
    return new ModelReport(
        model.toString(),
        producer(proto),
        describe(inputs),
        "ONNX Runtime " + OrtEnvironment.getEnvironment().getVersion() + " (" + device + ")",
        tapEffect,
        results,
        (System.nanoTime() - start) / 1e9,
        cases);
  }

  /** Whether a site's case is written: a chosen site, or any deviating one. */
  private boolean wantsCase(SiteResult result) {
    if (caseDirectory == null || result.verdict().kind() == SiteVerdict.Kind.NOT_VERIFIED) {
      return false;
    }
    return caseSites.isEmpty()
        ? !result.verdict().agrees()
        : caseSites.contains(result.site().index());
  }

  private OrtRunner.Builder runner() {
    return OrtRunner.builder().optDevice(device).optIntraOpThreads(threads).optTimeout(timeout);
  }

  private static double maxDifference(NDArray a, NDArray b) {
    if (b == null || !a.getShape().equals(b.getShape())) {
      return Double.POSITIVE_INFINITY;
    }
    double[] x = SiteChecker.doubles(a);
    double[] y = SiteChecker.doubles(b);
    double max = 0;
    for (int i = 0; i < x.length; i++) {
      double d = Math.abs(x[i] - y[i]);
      max =
          Double.isNaN(d)
              ? (Double.isNaN(x[i]) && Double.isNaN(y[i]) ? max : Double.NaN)
              : Math.max(max, d);
    }
    return max;
  }

  static String label(SiteVerdict verdict) {
    switch (verdict.kind()) {
      case ALL_AGREE:
        return "agree";
      case NOT_VERIFIED:
        return "not verified";
      default:
        return String.join(", ", verdict.deviating()) + " deviate(s)";
    }
  }

  private static String producer(ModelProto proto) {
    StringBuilder text = new StringBuilder();
    String name = proto.getProducerName();
    text.append(name.isEmpty() ? "unknown producer" : name);
    if (!proto.getProducerVersion().isEmpty()) {
      text.append(' ').append(proto.getProducerVersion());
    }
    text.append(", IR ").append(proto.getIrVersion());
    for (OperatorSetIdProto opset : proto.getOpsetImportList()) {
      String domain = opset.getDomain().isEmpty() ? "opset" : opset.getDomain();
      text.append(", ").append(domain).append(' ').append(opset.getVersion());
    }
    return text.toString();
  }

  private static String describe(ModelInputs inputs) {
    StringBuilder text = new StringBuilder(inputs.description()).append(':');
    inputs
        .arrays()
        .forEach(
            (name, array) ->
                text.append(' ')
                    .append(name)
                    .append(' ')
                    .append(array.getShape())
                    .append(' ')
                    .append(array.getDataType()));
    return text.toString();
  }

  /** Builds a {@link ModelVerifier}. */
  public static final class Builder {
    private VerifySettings settings = VerifySettings.defaults();
    private OrtDevice device = OrtDevice.CPU;
    private int threads = Runtime.getRuntime().availableProcessors();
    private Duration timeout = OrtRunner.defaultTimeout();
    private Consumer<String> progress = line -> {};
    private Path caseDirectory;
    private Set<Integer> caseSites = Set.of();

    private Builder() {}

    /**
     * Writes sites as standalone backend-test cases ({@code model.onnx} and {@code
     * test_data_set_0}) into sub-folders of a directory: the deviating sites, or the chosen ones.
     *
     * @param directory where the case folders go, or null for none
     * @param sites the site numbers to write; empty for every deviating site
     * @return this builder
     */
    public Builder optWriteCases(Path directory, Set<Integer> sites) {
      this.caseDirectory = directory;
      this.caseSites = sites == null ? Set.of() : sites;
      return this;
    }

    /**
     * Sets the tolerances, the maps' batch element and the attention function under test.
     *
     * @param settings the settings
     * @return this builder
     */
    public Builder optSettings(VerifySettings settings) {
      this.settings = settings;
      return this;
    }

    /**
     * Sets where ONNX Runtime runs.
     *
     * @param device cpu (default) or cuda
     * @return this builder
     */
    public Builder optDevice(OrtDevice device) {
      this.device = device;
      return this;
    }

    /**
     * Sets ONNX Runtime's intra-op threads.
     *
     * @param threads at least 1
     * @return this builder
     */
    public Builder optThreads(int threads) {
      this.threads = threads;
      return this;
    }

    /**
     * Sets the limit on each model load and run.
     *
     * @param timeout positive
     * @return this builder
     */
    public Builder optTimeout(Duration timeout) {
      this.timeout = timeout;
      return this;
    }

    /**
     * Sets where progress lines go (stderr in the command line).
     *
     * @param progress told one line per step
     * @return this builder
     */
    public Builder optProgress(Consumer<String> progress) {
      this.progress = progress;
      return this;
    }

    /**
     * Builds the verifier.
     *
     * @return the verifier
     * @throws IllegalArgumentException for null settings or device, or fewer than one thread
     */
    public ModelVerifier build() {
      if (settings == null || device == null || progress == null || timeout == null) {
        throw new IllegalArgumentException("settings, device, timeout and progress must be set");
      }
      if (threads < 1) {
        throw new IllegalArgumentException("threads must be >= 1, got " + threads);
      }
      return new ModelVerifier(this);
    }
  }
}
