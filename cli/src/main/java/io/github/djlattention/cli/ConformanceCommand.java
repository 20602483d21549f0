package io.github.djlattention.cli;

import ai.djl.Device;
import ai.djl.engine.Engine;
import ai.djl.ndarray.NDManager;
import io.github.djlattention.conformance.ConformanceRunner;
import io.github.djlattention.conformance.ConsoleReport;
import io.github.djlattention.conformance.DjlAttentionImplementation;
import io.github.djlattention.conformance.GeneratedCases;
import io.github.djlattention.conformance.GeneratedSuite;
import io.github.djlattention.conformance.HtmlReport;
import io.github.djlattention.conformance.JsonReport;
import io.github.djlattention.conformance.OnnxAttentionCases;
import io.github.djlattention.conformance.OnnxAttentionSuite;
import io.github.djlattention.conformance.OrtAttentionImplementation;
import io.github.djlattention.conformance.ProgressListener;
import io.github.djlattention.conformance.PytorchModels;
import io.github.djlattention.conformance.PytorchSuite;
import io.github.djlattention.conformance.SuiteResult;
import io.github.djlattention.conformance.contrib.ContribSuite;
import io.github.djlattention.io.AtomicWrite;
import io.github.djlattention.ort.OrtDevice;
import io.github.djlattention.ort.OrtRunner;
import io.github.djlattention.verify.ModelsSuite;
import io.github.djlattention.verify.VerifySettings;
import java.io.IOException;
import java.io.PrintWriter;
import java.io.UncheckedIOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.Callable;
import java.util.function.Function;
import java.util.function.Predicate;
import picocli.CommandLine.Command;
import picocli.CommandLine.Model.CommandSpec;
import picocli.CommandLine.Option;
import picocli.CommandLine.Spec;

/**
 * {@code conformance}: runs the conformance suites and prints a table; exits 0 when the project
 * agrees with every suite's oracle on every case, 1 otherwise, 2 on bad input.
 */
@Command(
    name = "conformance",
    description = {
      "Runs the conformance suites against their oracles: onnx-attention (the ONNX operator's"
          + " cases, ONNX reference outputs), generated (a seeded matrix, float64 reference),"
          + " pytorch (reference models, PyTorch's outputs), contrib (ONNX Runtime's com.microsoft"
          + " attention operators, float64 reference) and models (verify-model on"
          + " all-MiniLM-L6-v2, float and quantized, float64 reference). The project's DJL"
          + " attention, blocks and adapters must agree; ONNX Runtime's disagreements are"
          + " findings.",
      "Exit code: 0 when the project passes every case, 1 when it fails one, 2 on bad input."
    })
public final class ConformanceCommand implements Callable<Integer> {

  @Spec private CommandSpec spec;

  @Option(
      names = "--suite",
      paramLabel = "NAME",
      description = "Suite to run (repeatable); default: all. Known: ${COMPLETION-CANDIDATES}.",
      completionCandidates = SuiteNames.class)
  private List<String> suites = new ArrayList<>();

  @Option(
      names = "--device",
      paramLabel = "cpu|cuda",
      description = "Where DJL and ONNX Runtime compute (default: ${DEFAULT-VALUE}).")
  private String device = "cpu";

  @Option(names = "--json", paramLabel = "FILE", description = "Write the results as JSON.")
  private Path json;

  @Option(names = "--html", paramLabel = "FILE", description = "Write a self-contained HTML page.")
  private Path html;

  @Option(
      names = "--cases",
      paramLabel = "DIR",
      description = "Directory of the ONNX Attention cases (default: ${DEFAULT-VALUE}).")
  private Path casesDirectory = OnnxAttentionCases.DEFAULT_DIRECTORY;

  @Option(
      names = "--generated-cases",
      paramLabel = "FILE",
      description = "Matrix of the generated suite (default: ${DEFAULT-VALUE}).")
  private Path generatedFile = GeneratedCases.DEFAULT_FILE;

  @Option(
      names = "--models",
      paramLabel = "DIR",
      description = "PyTorch reference models of the pytorch suite (default: ${DEFAULT-VALUE}).")
  private Path modelsDirectory = PytorchModels.DEFAULT_DIRECTORY;

  @Option(
      names = "--model-dir",
      paramLabel = "DIR",
      description =
          "Real models of the models suite, one folder each (default: ${DEFAULT-VALUE}, unpacked"
              + " there by the build).")
  private Path realModelsDirectory = ModelsSuite.DEFAULT_DIRECTORY;

  @Option(
      names = "--case",
      paramLabel = "NAME",
      description = "Run only cases whose name contains NAME (repeatable); others are skipped.")
  private List<String> caseFilters = new ArrayList<>();

  @Option(
      names = "--heatmap",
      paramLabel = "CASE",
      description =
          "Also draw heatmaps for this case in the HTML page (repeatable); failing cases and the"
              + " first case of each group always get them.")
  private List<String> heatmaps = new ArrayList<>();

  @Option(
      names = "--threads",
      paramLabel = "N",
      description = "ONNX Runtime intra-op threads (default: all cores).")
  private int threads = Runtime.getRuntime().availableProcessors();

  @Option(
      names = "--timeout",
      paramLabel = "SECONDS",
      description =
          "Give up on one model load or one ONNX Runtime run after this many seconds; that case"
              + " errs (default: ${DEFAULT-VALUE}).")
  private double timeoutSeconds = 600;

  @Option(names = "--quiet", description = "No per-case progress on stderr.")
  private boolean quiet;

  /** The suites this command knows, by name. */
  private static final Map<String, Function<ConformanceCommand, SuiteRun>> SUITES =
      new LinkedHashMap<>();

  static {
    SUITES.put(OnnxAttentionSuite.NAME, ConformanceCommand::onnxAttention);
    SUITES.put(GeneratedSuite.NAME, ConformanceCommand::generated);
    SUITES.put(PytorchSuite.NAME, ConformanceCommand::pytorch);
    SUITES.put(ContribSuite.NAME, ConformanceCommand::contrib);
    SUITES.put(ModelsSuite.NAME, ConformanceCommand::models);
  }

  /** Lists the suite names for picocli's help. */
  static final class SuiteNames extends ArrayList<String> {
    SuiteNames() {
      super(SUITES.keySet());
    }
  }

  /** Runs one suite with a runner and returns its results. */
  @FunctionalInterface
  private interface SuiteRun {
    SuiteResult run(ConformanceRunner runner);
  }

  @Override
  public Integer call() {
    List<String> selected = suites.isEmpty() ? new ArrayList<>(SUITES.keySet()) : suites;
    for (String name : selected) {
      if (!SUITES.containsKey(name)) {
        throw new IllegalArgumentException(
            "unknown suite '" + name + "'; known suites: " + SUITES.keySet());
      }
    }
    OrtDevice ortDevice = OrtDevice.parse(device);
    Duration timeout = CliTimeouts.parse(timeoutSeconds);
    checkDevice(ortDevice);
    if (threads < 1) {
      throw new IllegalArgumentException("--threads must be >= 1, got " + threads);
    }
    requireOutputs();
    PrintWriter out = spec.commandLine().getOut();
    PrintWriter err = spec.commandLine().getErr();
    ProgressListener progress = quiet ? ProgressListener.NONE : ConsoleReport.progress(err);
    Predicate<String> filter =
        caseFilters.isEmpty()
            ? name -> true
            : name -> caseFilters.stream().anyMatch(name::contains);
    // Load every suite first, so a missing case file fails before any suite runs.
    List<SuiteRun> runs = new ArrayList<>();
    for (String name : selected) {
      runs.add(SUITES.get(name).apply(this));
    }
    List<SuiteResult> results = new ArrayList<>();
    // The suites build their ONNX Runtime sessions themselves: they take the default timeout.
    Duration previousTimeout = OrtRunner.defaultTimeout();
    OrtRunner.setDefaultTimeout(timeout);
    try (NDManager manager = NDManager.newBaseManager(Device.cpu())) {
      ConformanceRunner runner = new ConformanceRunner(manager, progress, filter);
      for (SuiteRun run : runs) {
        results.add(run.run(runner));
      }
    } finally {
      OrtRunner.setDefaultTimeout(previousTimeout);
    }
    ConsoleReport.print(results, out);
    if (json != null) {
      writeAtomically(json, JsonReport.render(results));
    }
    if (html != null) {
      Set<String> chosen = Set.copyOf(heatmaps);
      Predicate<io.github.djlattention.conformance.CaseResult> show =
          HtmlReport.defaultHeatmapChoice(results).or(c -> chosen.contains(c.name()));
      writeAtomically(html, HtmlReport.render(results, show));
    }
    boolean passed = results.stream().allMatch(r -> r.failed() == 0);
    return passed ? ExitCodes.OK : ExitCodes.CHECK_FAILED;
  }

  /** Refuses a report path that is not a regular file or new name, or names an input. */
  private void requireOutputs() {
    Map<String, Path> inputs = new LinkedHashMap<>();
    inputs.put("--generated-cases", generatedFile);
    inputs.put("--models manifest", modelsDirectory.resolve("manifest.json"));
    if (json != null) {
      AtomicWrite.requireReplaceable(json);
      AtomicWrite.requireNotAnInput("--json", json, inputs);
    }
    if (html != null) {
      AtomicWrite.requireReplaceable(html);
      AtomicWrite.requireNotAnInput("--html", html, inputs);
    }
    if (json != null && html != null) {
      AtomicWrite.requireNotAnInput("--html", html, Map.of("--json", json));
      if (json.toAbsolutePath().normalize().equals(html.toAbsolutePath().normalize())) {
        throw new IllegalArgumentException("--json and --html are the same file " + json);
      }
    }
  }

  private SuiteRun onnxAttention() {
    OnnxAttentionSuite suite =
        OnnxAttentionSuite.load(
            casesDirectory,
            new DjlAttentionImplementation(djlDevice()),
            List.of(DjlAttentionImplementation.fastPath(djlDevice())),
            List.of(new OrtAttentionImplementation(OrtDevice.parse(device), threads)));
    return runner -> runner.run(suite);
  }

  private SuiteRun generated() {
    GeneratedSuite suite =
        GeneratedSuite.standard(generatedFile, djlDevice(), OrtDevice.parse(device), threads);
    return runner -> runner.run(suite);
  }

  private SuiteRun pytorch() {
    PytorchSuite suite = PytorchSuite.standard(modelsDirectory, OrtDevice.parse(device), threads);
    return runner -> runner.run(suite);
  }

  /** The models suite runs verify-model itself: it takes the progress and the filter here. */
  private SuiteRun models() {
    ModelsSuite suite =
        ModelsSuite.load(
            realModelsDirectory,
            OrtDevice.parse(device),
            threads,
            djlDevice(),
            VerifySettings.defaults());
    ProgressListener progress =
        quiet ? ProgressListener.NONE : ConsoleReport.progress(spec.commandLine().getErr());
    Predicate<String> filter =
        caseFilters.isEmpty()
            ? name -> true
            : name -> caseFilters.stream().anyMatch(name::contains);
    return runner -> suite.run(progress, filter);
  }

  private SuiteRun contrib() {
    ContribSuite suite = ContribSuite.standard(djlDevice(), OrtDevice.parse(device), threads);
    return runner -> runner.run(suite);
  }

  private Device djlDevice() {
    return OrtDevice.parse(device) == OrtDevice.CUDA ? Device.gpu() : Device.cpu();
  }

  private static void checkDevice(OrtDevice device) {
    if (device != OrtDevice.CUDA) {
      return;
    }
    if (Engine.getInstance().getGpuCount() == 0) {
      throw new IllegalStateException(
          "--device cuda: DJL's PyTorch engine sees no GPU (it needs a CUDA build of PyTorch"
              + " native and a GPU)");
    }
    if (!OrtRunner.cudaAvailable()) {
      throw new IllegalStateException(
          "--device cuda: ONNX Runtime's CUDA execution provider is not available; it needs the"
              + " -Pcuda build (onnxruntime_gpu) and an NVIDIA GPU with a driver, CUDA and cuDNN"
              + " matching that ONNX Runtime");
    }
  }

  /**
   * Writes a file through {@link AtomicWrite}: an exclusive temporary sibling with an unpredictable
   * name, renamed over the target, so no half file is left and no planted link is followed.
   */
  static void writeAtomically(Path target, String text) {
    Path directory = target.toAbsolutePath().getParent();
    try {
      Files.createDirectories(directory);
    } catch (IOException e) {
      throw new UncheckedIOException("cannot write " + target + ": " + e.getMessage(), e);
    }
    AtomicWrite.writeString(target, text);
  }
}
