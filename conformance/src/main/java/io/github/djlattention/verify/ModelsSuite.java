package io.github.djlattention.verify;

import ai.djl.Device;
import ai.djl.ndarray.NDManager;
import ai.onnx.proto.OnnxMl.ModelProto;
import io.github.djlattention.conformance.CaseResult;
import io.github.djlattention.conformance.Comparison;
import io.github.djlattention.conformance.Heatmap;
import io.github.djlattention.conformance.ImplementationResult;
import io.github.djlattention.conformance.ProgressListener;
import io.github.djlattention.conformance.SuiteResult;
import io.github.djlattention.conformance.Verdict;
import io.github.djlattention.onnx.inspect.AttentionFinder;
import io.github.djlattention.onnx.inspect.AttentionSite;
import io.github.djlattention.onnx.inspect.ModelGraph;
import io.github.djlattention.ort.OrtDevice;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.function.Predicate;

/**
 * The conformance suite {@value #NAME}: {@link ModelVerifier} on real models, one case per
 * attention site. The models are all-MiniLM-L6-v2 and its quantized twin as Maven Central ships
 * them in LangChain4j's jars, which the build unpacks into {@code target/models/<name>/} (see the
 * onnx module's pom); the inputs are {@link #TEXTS} through each model's own tokenizer.
 *
 * <p>Oracle: the float64 reference on the captured Q, K, V and mask. Project: {@code djl} (the
 * attention with its weights), {@code djl-fast} (the fast path) and {@code djl-block} (the sublayer
 * through a {@code MultiHeadAttentionBlock} with the graph's weights). Other: {@code onnxruntime},
 * the site's tensors from the model's run.
 */
public final class ModelsSuite {

  /** The suite's name. */
  public static final String NAME = "models";

  /** Where the build unpacks the models, relative to the repository root. */
  public static final Path DEFAULT_DIRECTORY = Path.of("target", "models");

  /** The models, each a folder {@code <name>/} holding {@code <name>.onnx} and its tokenizer. */
  public static final List<String> MODELS = List.of("all-minilm-l6-v2", "all-minilm-l6-v2-q");

  /** The texts of the run: one batch of different lengths, so the padding mask matters. */
  public static final List<String> TEXTS =
      List.of(
          "The quick brown fox jumps over the lazy dog.",
          "Attention weights sum to one over the keys.",
          "Hello world",
          "Engineers must show that two frameworks compute the same thing, layer by layer and"
              + " head by head.");

  private final Path directory;
  private final OrtDevice device;
  private final int threads;
  private final Device djlDevice;
  private final VerifySettings settings;

  private ModelsSuite(
      Path directory, OrtDevice device, int threads, Device djlDevice, VerifySettings settings) {
    this.directory = directory;
    this.device = device;
    this.threads = threads;
    this.djlDevice = djlDevice;
    this.settings = settings;
  }

  /**
   * The standard suite over a models directory; checks that every model and tokenizer is there.
   *
   * @param directory the folder holding one sub-folder per model
   * @param device where ONNX Runtime runs
   * @param threads ONNX Runtime's intra-op threads
   * @param djlDevice where the project computes
   * @param settings the tolerances and the attention function under test
   * @return the suite
   * @throws IllegalArgumentException naming the first missing file
   */
  public static ModelsSuite load(
      Path directory, OrtDevice device, int threads, Device djlDevice, VerifySettings settings) {
    for (String name : MODELS) {
      for (Path file : List.of(model(directory, name), tokenizer(directory, name))) {
        if (!Files.isRegularFile(file)) {
          throw new IllegalArgumentException(
              "the models suite needs "
                  + file
                  + ", which the build unpacks from Maven Central (mvn -q -B -DskipTests package"
                  + " at the repository root); or point --model-dir at a folder with "
                  + MODELS);
        }
      }
    }
    return new ModelsSuite(directory, device, threads, djlDevice, settings);
  }

  static Path model(Path directory, String name) {
    return directory.resolve(name).resolve(name + ".onnx");
  }

  static Path tokenizer(Path directory, String name) {
    return directory.resolve(name).resolve(name + "-tokenizer.json");
  }

  /**
   * Runs the suite.
   *
   * @param progress told after each site
   * @param caseFilter selects cases by name ({@code <model> <layer>}); a model none of whose sites
   *     is selected is not run
   * @return the results
   */
  public SuiteResult run(ProgressListener progress, Predicate<String> caseFilter) {
    List<CaseResult> cases = new ArrayList<>();
    int total = 0;
    Map<String, List<AttentionSite>> sites = new LinkedHashMap<>();
    Map<String, ModelProto> protos = new LinkedHashMap<>();
    for (String name : MODELS) {
      ModelProto proto = AttentionFinder.read(model(directory, name));
      List<AttentionSite> found = AttentionFinder.find(proto);
      protos.put(name, proto);
      sites.put(name, found);
      total += found.size();
    }
    for (String name : MODELS) {
      List<AttentionSite> found = sites.get(name);
      ModelProto proto = protos.remove(name);
      boolean any = found.stream().anyMatch(s -> caseFilter.test(caseName(name, s)));
      if (!any) {
        for (AttentionSite site : found) {
          cases.add(skipped(name, site));
          progress.caseFinished(NAME, cases.size(), total, cases.get(cases.size() - 1));
        }
        continue;
      }
      try (NDManager manager = NDManager.newBaseManager(djlDevice, "PyTorch")) {
        ModelInputs inputs =
            ModelInputs.fromText(
                TEXTS, tokenizer(directory, name), new ModelGraph(proto).inputs(), manager);
        ModelReport report;
        try {
          report =
              ModelVerifier.builder()
                  .optSettings(settings)
                  .optDevice(device)
                  .optThreads(threads)
                  .build()
                  .verify(model(directory, name), proto, inputs, manager);
        } catch (RuntimeException e) {
          for (AttentionSite site : found) {
            cases.add(failedRun(name, site, e));
            progress.caseFinished(NAME, cases.size(), total, cases.get(cases.size() - 1));
          }
          continue;
        }
        for (SiteResult site : report.sites()) {
          CaseResult result =
              caseFilter.test(caseName(name, site.site()))
                  ? toCase(name, site)
                  : skipped(name, site.site());
          cases.add(result);
          progress.caseFinished(NAME, cases.size(), total, result);
        }
      }
    }
    return new SuiteResult(
        NAME,
        SiteChecker.REFERENCE,
        List.of(SiteChecker.DJL, SiteChecker.DJL_FAST, SiteChecker.DJL_BLOCK),
        List.of(SiteChecker.ORT),
        cases);
  }

  /** A case's name: the model and the site's layer. */
  static String caseName(String model, AttentionSite site) {
    return model + " " + site.layer();
  }

  private static CaseResult skipped(String model, AttentionSite site) {
    return new CaseResult(
        caseName(model, site),
        model,
        "float32",
        null,
        List.of(),
        Verdict.skipped("not selected"),
        List.of(),
        Map.of());
  }

  private static CaseResult failedRun(String model, AttentionSite site, RuntimeException e) {
    String message = e.getMessage() == null ? e.getClass().getSimpleName() : e.getMessage();
    ImplementationResult project =
        new ImplementationResult(
            SiteChecker.DJL, List.of(), Optional.of("the model run failed: " + message));
    return new CaseResult(
        caseName(model, site),
        model,
        "float32",
        project,
        List.of(),
        Verdict.of(SiteChecker.REFERENCE, List.of(project), List.of()),
        List.of(),
        Map.of());
  }

  /** One site as a conformance case: each implementation's checks as its comparisons. */
  private CaseResult toCase(String model, SiteResult site) {
    Map<String, String> notRun = new LinkedHashMap<>();
    if (site.verdict().kind() == SiteVerdict.Kind.NOT_VERIFIED) {
      ImplementationResult project =
          new ImplementationResult(
              SiteChecker.DJL, List.of(), Optional.of(site.verdict().summary()));
      return new CaseResult(
          caseName(model, site.site()),
          model,
          "float32",
          project,
          List.of(),
          Verdict.of(SiteChecker.REFERENCE, List.of(project), List.of()),
          List.of(),
          notRun);
    }
    List<ImplementationResult> projects = new ArrayList<>();
    for (String implementation :
        List.of(SiteChecker.DJL, SiteChecker.DJL_FAST, SiteChecker.DJL_BLOCK)) {
      implementation(site, implementation)
          .ifPresentOrElse(projects::add, () -> notRun.put(implementation, site.sublayer()));
    }
    List<ImplementationResult> others = new ArrayList<>();
    implementation(site, SiteChecker.ORT).ifPresent(others::add);
    List<ImplementationResult> rest = new ArrayList<>(projects.subList(1, projects.size()));
    rest.addAll(others);
    return new CaseResult(
        caseName(model, site.site()),
        model,
        "float32",
        projects.get(0),
        rest,
        Verdict.of(SiteChecker.REFERENCE, projects, others),
        heatmaps(site),
        notRun);
  }

  private static Optional<ImplementationResult> implementation(SiteResult site, String name) {
    List<Comparison> comparisons = new ArrayList<>();
    Optional<String> error = Optional.empty();
    for (SiteResult.Check check : site.checks()) {
      if (!check.implementation().equals(name)) {
        continue;
      }
      if (check.error() != null) {
        error = Optional.of(check.output() + ": " + check.error());
        continue;
      }
      comparisons.add(new Comparison(check.output(), "float32", check.whole(), ""));
    }
    if (comparisons.isEmpty() && error.isEmpty()) {
      return Optional.empty();
    }
    return Optional.of(new ImplementationResult(name, comparisons, error));
  }

  /** Head 0's maps of the shown batch element: reference, ONNX Runtime, project, differences. */
  private static List<Heatmap> heatmaps(SiteResult site) {
    SiteResult.HeadMaps maps = site.maps();
    List<Heatmap> result = new ArrayList<>();
    if (maps == null || maps.reference().isEmpty()) {
      return result;
    }
    Heatmap reference =
        new Heatmap(SiteChecker.REFERENCE, maps.rows(), maps.columns(), maps.reference().get(0));
    result.add(reference);
    Heatmap ort = null;
    if (!maps.onnxRuntime().isEmpty()) {
      ort = new Heatmap(SiteChecker.ORT, maps.rows(), maps.columns(), maps.onnxRuntime().get(0));
      result.add(ort);
    }
    if (!maps.project().isEmpty()) {
      Heatmap project =
          new Heatmap(SiteChecker.DJL, maps.rows(), maps.columns(), maps.project().get(0));
      result.add(project);
      if (ort != null) {
        result.add(project.minus(SiteChecker.DJL + " - " + SiteChecker.ORT, ort));
      }
      result.add(project.minus(SiteChecker.DJL + " - " + SiteChecker.REFERENCE, reference));
    }
    return result;
  }
}
