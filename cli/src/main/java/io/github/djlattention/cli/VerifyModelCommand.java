package io.github.djlattention.cli;

import ai.djl.Device;
import ai.djl.engine.Engine;
import ai.djl.ndarray.NDManager;
import ai.onnx.proto.OnnxMl.ModelProto;
import io.github.djlattention.io.AtomicWrite;
import io.github.djlattention.io.Npz;
import io.github.djlattention.onnx.inspect.AttentionFinder;
import io.github.djlattention.onnx.inspect.ModelGraph;
import io.github.djlattention.ort.OrtDevice;
import io.github.djlattention.ort.OrtRunner;
import io.github.djlattention.verify.ModelInputs;
import io.github.djlattention.verify.ModelReport;
import io.github.djlattention.verify.ModelVerifier;
import io.github.djlattention.verify.VerifyConsole;
import io.github.djlattention.verify.VerifyHtml;
import io.github.djlattention.verify.VerifyJson;
import io.github.djlattention.verify.VerifySettings;
import java.io.PrintWriter;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.Callable;
import picocli.CommandLine.Command;
import picocli.CommandLine.Model.CommandSpec;
import picocli.CommandLine.Option;
import picocli.CommandLine.Parameters;
import picocli.CommandLine.Spec;

/**
 * {@code djl-attention verify-model MODEL.onnx}: runs the model once on ONNX Runtime with every
 * attention site's tensors exposed, recomputes each site with the project and the float64
 * reference, and reports layer by layer and head by head (see {@link ModelVerifier}). Exit 0 when
 * every site agrees, 1 when one deviates or cannot be recomputed, 2 on bad input.
 */
@Command(
    name = "verify-model",
    description = {
      "Verifies every attention of an ONNX model: one ONNX Runtime run with each site's Q, K, V,"
          + " mask, weights and output exposed, then each site recomputed with the project"
          + " (Attention.attention with the weights, the fast path, a MultiHeadAttentionBlock with"
          + " the graph's weights over the sublayer) and with the float64 reference; per site and"
          + " per head the errors and who deviates.",
      "Inputs: --inputs FILE.npz (arrays named after the graph inputs, any type, int64 token ids"
          + " included) or --text (repeatable) with --tokenizer tokenizer.json (DJL's Hugging Face"
          + " tokenizers; the batch is padded to its longest text).",
      "Exit code: 0 when every site agrees, 1 when a site deviates or cannot be recomputed, 2 on"
          + " bad input."
    })
final class VerifyModelCommand implements Callable<Integer> {

  @Spec private CommandSpec spec;

  @Parameters(index = "0", paramLabel = "MODEL.onnx", description = "The ONNX model.")
  private Path model;

  @Option(
      names = "--inputs",
      paramLabel = "FILE.npz",
      description = "The model's inputs, one array per graph input name.")
  private Path inputs;

  @Option(
      names = "--text",
      paramLabel = "TEXT",
      description = "A text to tokenize (repeatable; the texts form one padded batch).")
  private List<String> texts = new ArrayList<>();

  @Option(
      names = "--tokenizer",
      paramLabel = "FILE",
      description =
          "The tokenizer.json for --text (default: tokenizer.json or <model>-tokenizer.json"
              + " beside the model).")
  private Path tokenizer;

  @Option(names = "--json", paramLabel = "FILE", description = "Write the report as JSON.")
  private Path json;

  @Option(
      names = "--html",
      paramLabel = "FILE",
      description = "Write a self-contained HTML page with each layer's attention maps per head.")
  private Path html;

  @Option(
      names = "--write-case",
      paramLabel = "DIR",
      description =
          "Write each deviating site (or the --case-site ones) as a standalone ONNX backend-test"
              + " case: DIR/site-NN-<layer>/model.onnx and test_data_set_0/.")
  private Path caseDirectory;

  @Option(
      names = "--case-site",
      paramLabel = "N",
      split = ",",
      description = "With --write-case: write these sites (numbers from inspect) whatever they do.")
  private List<Integer> caseSites = new ArrayList<>();

  @Option(
      names = "--save-inputs",
      paramLabel = "FILE.npz",
      description = "Also write the inputs of the run (e.g. the tokenized texts) as an .npz.")
  private Path saveInputs;

  @Option(
      names = "--rtol",
      paramLabel = "F",
      description = "Relative tolerance of the attention output and weights (default 1e-4).")
  private double rtol = VerifySettings.defaults().coreRtol();

  @Option(
      names = "--atol",
      paramLabel = "F",
      description = "Absolute tolerance of the attention output and weights (default 1e-6).")
  private double atol = VerifySettings.defaults().coreAtol();

  @Option(
      names = "--sublayer-rtol",
      paramLabel = "F",
      description = "Relative tolerance of the sublayer (default 1e-4).")
  private double sublayerRtol = VerifySettings.defaults().sublayerRtol();

  @Option(
      names = "--sublayer-atol",
      paramLabel = "F",
      description = "Absolute tolerance of the sublayer (default 1e-5).")
  private double sublayerAtol = VerifySettings.defaults().sublayerAtol();

  @Option(
      names = "--rel-floor",
      paramLabel = "F",
      description =
          "Relative errors divide by max(|ref|, F * max|ref|) so near-zero elements do not"
              + " dominate (default 1e-3).")
  private double relFloor = VerifySettings.defaults().relFloor();

  @Option(
      names = "--map-batch",
      paramLabel = "N",
      description = "The batch element whose attention maps the HTML page draws (default 0).")
  private int mapBatch;

  @Option(
      names = "--device",
      paramLabel = "cpu|cuda",
      description = "Where ONNX Runtime and DJL compute (default: ${DEFAULT-VALUE}).")
  private String device = "cpu";

  @Option(
      names = "--threads",
      paramLabel = "N",
      description = "ONNX Runtime intra-op threads (default: all cores).")
  private int threads = Runtime.getRuntime().availableProcessors();

  @Option(
      names = "--timeout",
      paramLabel = "SECONDS",
      description = "Give up on one model load or run after this many seconds (default 600).")
  private double timeoutSeconds = 600;

  @Option(names = "--quiet", description = "No progress on stderr.")
  private boolean quiet;

  @Override
  public Integer call() {
    Duration timeout = CliTimeouts.parse(timeoutSeconds);
    OrtDevice ortDevice = OrtDevice.parse(device);
    if (threads < 1) {
      throw new IllegalArgumentException("--threads must be >= 1, got " + threads);
    }
    if ((inputs == null) == texts.isEmpty()) {
      throw new IllegalArgumentException(
          inputs == null
              ? "give the inputs: --inputs FILE.npz, or --text TEXT with --tokenizer FILE"
              : "give either --inputs or --text, not both");
    }
    if (tokenizer != null && texts.isEmpty()) {
      throw new IllegalArgumentException("--tokenizer needs --text");
    }
    if (!caseSites.isEmpty() && caseDirectory == null) {
      throw new IllegalArgumentException("--case-site needs --write-case DIR");
    }
    VerifySettings settings =
        new VerifySettings(
            rtol,
            atol,
            sublayerRtol,
            sublayerAtol,
            relFloor,
            mapBatch,
            VerifySettings.defaults().attention());
    Path tokenizerFile = texts.isEmpty() ? null : tokenizerFile();
    requireOutputs(tokenizerFile);
    if (ortDevice == OrtDevice.CUDA) {
      checkCuda();
    }
    PrintWriter out = spec.commandLine().getOut();
    PrintWriter err = spec.commandLine().getErr();
    Device djlDevice = ortDevice == OrtDevice.CUDA ? Device.gpu() : Device.cpu();
    ModelProto proto = AttentionFinder.read(model);
    ModelGraph graph = new ModelGraph(proto);
    try (NDManager manager = NDManager.newBaseManager(djlDevice, "PyTorch")) {
      ModelInputs runInputs =
          inputs != null
              ? ModelInputs.fromNpz(inputs, manager)
              : ModelInputs.fromText(texts, tokenizerFile, graph.inputs(), manager);
      if (saveInputs != null) {
        Npz.write(saveInputs, runInputs.arrays());
      }
      ModelVerifier verifier =
          ModelVerifier.builder()
              .optSettings(settings)
              .optDevice(ortDevice)
              .optThreads(threads)
              .optTimeout(timeout)
              .optWriteCases(caseDirectory, new LinkedHashSet<>(caseSites))
              .optProgress(
                  quiet
                      ? line -> {}
                      : line -> {
                        err.println(line);
                        err.flush();
                      })
              .build();
      ModelReport report = verifier.verify(model, proto, runInputs, manager);
      VerifyConsole.print(report, settings, out);
      out.flush();
      if (json != null) {
        ConformanceCommand.writeAtomically(json, VerifyJson.render(report, settings, graph));
      }
      if (html != null) {
        ConformanceCommand.writeAtomically(
            html, VerifyHtml.render(report, settings, runInputs.texts()));
      }
      return report.allAgree() ? ExitCodes.OK : ExitCodes.CHECK_FAILED;
    }
  }

  /** --tokenizer, else tokenizer.json or <model>-tokenizer.json beside the model. */
  private Path tokenizerFile() {
    if (tokenizer != null) {
      return tokenizer;
    }
    Path directory = model.toAbsolutePath().getParent();
    String name = model.getFileName().toString();
    String stem = name.endsWith(".onnx") ? name.substring(0, name.length() - 5) : name;
    for (Path candidate :
        List.of(directory.resolve("tokenizer.json"), directory.resolve(stem + "-tokenizer.json"))) {
      if (Files.isRegularFile(candidate)) {
        return candidate;
      }
    }
    throw new IllegalArgumentException(
        "--text needs --tokenizer FILE (no tokenizer.json or "
            + stem
            + "-tokenizer.json beside "
            + model
            + ")");
  }

  /** Refuses report paths that are not new names or regular files, or that name an input. */
  private void requireOutputs(Path tokenizerFile) {
    Map<String, Path> named = new LinkedHashMap<>();
    named.put("MODEL.onnx", model);
    if (inputs != null) {
      named.put("--inputs", inputs);
    }
    if (tokenizerFile != null) {
      named.put("--tokenizer", tokenizerFile);
    }
    Map<String, Path> outputs = new LinkedHashMap<>();
    if (json != null) {
      outputs.put("--json", json);
    }
    if (html != null) {
      outputs.put("--html", html);
    }
    if (saveInputs != null) {
      outputs.put("--save-inputs", saveInputs);
    }
    Set<Path> seen = new LinkedHashSet<>();
    for (Map.Entry<String, Path> output : outputs.entrySet()) {
      AtomicWrite.requireReplaceable(output.getValue());
      AtomicWrite.requireNotAnInput(output.getKey(), output.getValue(), named);
      if (!seen.add(output.getValue().toAbsolutePath().normalize())) {
        throw new IllegalArgumentException(
            output.getKey() + " names the same file as another output: " + output.getValue());
      }
    }
  }

  private static void checkCuda() {
    if (!OrtRunner.cudaAvailable()) {
      throw new IllegalStateException(
          "--device cuda: ONNX Runtime's CUDA execution provider is not available; it needs the"
              + " -Pcuda build (onnxruntime_gpu) and an NVIDIA GPU with a driver, CUDA and cuDNN");
    }
    if (Engine.getInstance().getGpuCount() == 0) {
      throw new IllegalStateException("--device cuda: DJL's PyTorch engine sees no GPU");
    }
  }
}
