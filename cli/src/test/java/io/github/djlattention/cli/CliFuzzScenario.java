package io.github.djlattention.cli;

import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.Paths;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Random;
import java.util.Set;
import java.util.stream.Stream;
import java.util.zip.ZipEntry;
import java.util.zip.ZipOutputStream;

/**
 * One seeded fuzz case for the command line: a command, the malformed files it reads (written into
 * a fresh directory) and the outputs that must not appear.
 *
 * <p>Every case is bad input, so the command must exit 2 with one line on stderr, except {@code
 * bitflip} cases (a random bit flipped in a model), which may also be a valid but different model:
 * they may exit 0 or 1 as well, and conformance cases whose tensor dims disagree with their data,
 * which the conformance command reports as an erroring case (exit 1). None may exit 3, crash or
 * hang.
 *
 * <p>Kinds, by command: {@code compute} with random bytes, truncated files, mutated .npy headers
 * (dtype, shape, order, length, version), shapes that do not fit together, scores too large to
 * allocate, bad numbers and paths; {@code export} with broken or foreign state dicts and bad sizes;
 * {@code check} with broken, foreign or bit-flipped models, inputs and weights; {@code conformance}
 * with a case directory whose model or tensors are broken.
 *
 * @param seed the seed that made it
 * @param name command and mutation, for messages
 * @param args the command line
 * @param outputs files the command must not leave behind
 * @param allowedExitCodes 2, or 0, 1 and 2 for bit flips
 * @param properties system properties the case runs with (lowered {@code io.InputLimits}), set
 *     around an in-process run and passed as {@code -D} options to a child JVM
 */
record CliFuzzScenario(
    long seed,
    String name,
    List<String> args,
    List<Path> outputs,
    Set<Integer> allowedExitCodes,
    Map<String, String> properties) {

  /** A case run with the default limits. */
  CliFuzzScenario(
      long seed, String name, List<String> args, List<Path> outputs, Set<Integer> allowed) {
    this(seed, name, args, outputs, allowed, Map.of());
  }

  static final Path MODELS = Paths.get("models");
  static final Path CASES = Paths.get("conformance/onnx-attention");

  private static final Set<Integer> BAD_INPUT = Set.of(ExitCodes.BAD_INPUT);

  @Override
  public String toString() {
    return "seed=" + seed + " " + name;
  }

  /**
   * Makes the case for {@code seed}, writing its files into {@code dir}.
   *
   * @param seed the seed
   * @param dir an empty directory
   * @return the case
   */
  static CliFuzzScenario generate(long seed, Path dir) {
    Random random = new Random(seed);
    try {
      int pick = random.nextInt(100);
      if (pick < 45) {
        return new Generator(seed, random, dir).compute();
      } else if (pick < 70) {
        return new Generator(seed, random, dir).check();
      } else if (pick < 85) {
        return new Generator(seed, random, dir).export();
      }
      return new Generator(seed, random, dir).conformance();
    } catch (IOException e) {
      throw new UncheckedIOException(e);
    }
  }

  /**
   * Makes a case of any family for {@code seed}: three in ten are {@link #hostile} cases, the rest
   * those of {@link #generate}.
   *
   * @param seed the seed
   * @param dir an empty directory
   * @return the case
   */
  static CliFuzzScenario generateAny(long seed, Path dir) {
    return new Random(seed ^ 0x5DEECE66DL).nextInt(10) < 3
        ? hostile(seed, dir)
        : generate(seed, dir);
  }

  /** The hostile families: what {@code HostileInputsTest} covers, drawn at random. */
  static final List<String> HOSTILE_FAMILIES =
      List.of(
          "nesting",
          "digits",
          "control-header",
          "control-member",
          "members",
          "bomb",
          "case-field",
          "non-regular",
          "model-size");

  /**
   * Makes a hostile case for {@code seed}: deep nesting, long numbers, control characters, many
   * members, zip bombs (with lowered limits), generated conformance cases with out-of-range or
   * overflowing sizes, non-regular files and oversized models. All are bad input: exit 2.
   *
   * @param seed the seed
   * @param dir an empty directory
   * @return the case
   */
  static CliFuzzScenario hostile(long seed, Path dir) {
    Random random = new Random(seed);
    try {
      return new Generator(seed, random, dir).hostile();
    } catch (IOException e) {
      throw new UncheckedIOException(e);
    }
  }

  /** Builds one case; holds the seed's random stream and the directory. */
  private static final class Generator {
    private final long seed;
    private final Random random;
    private final Path dir;

    Generator(long seed, Random random, Path dir) {
      this.seed = seed;
      this.random = random;
      this.dir = dir;
    }

    private <T> T oneOf(List<T> options) {
      return options.get(random.nextInt(options.size()));
    }

    private Path write(String name, byte[] bytes) throws IOException {
      Path file = dir.resolve(name);
      Files.write(file, bytes);
      return file;
    }

    private byte[] randomBytes(int max) {
      byte[] bytes = new byte[random.nextInt(max + 1)];
      random.nextBytes(bytes);
      return bytes;
    }

    private byte[] truncate(byte[] bytes) {
      return Arrays.copyOf(bytes, random.nextInt(bytes.length));
    }

    private byte[] flipBit(byte[] bytes) {
      byte[] copy = bytes.clone();
      int bit = random.nextInt(copy.length * 8);
      copy[bit / 8] ^= (byte) (1 << (bit % 8));
      return copy;
    }

    private CliFuzzScenario scenario(String name, List<String> args, Path... outputs) {
      List<Path> kept = Arrays.stream(outputs).filter(p -> p != null).toList();
      return new CliFuzzScenario(seed, name, args, kept, BAD_INPUT);
    }

    // ---- hostile

    private int logUniform(int min, int max) {
      return (int) Math.round(min * Math.pow((double) max / min, random.nextDouble()));
    }

    private List<String> computeArgs(Path q) {
      return List.of(
          "compute",
          "--q=" + q,
          "--k=" + MODELS.resolve("seed").resolve("k.npy"),
          "--v=" + MODELS.resolve("seed").resolve("v_identity.npy"),
          "--out=" + dir.resolve("out.npz"));
    }

    private List<String> checkArgs(Path onnx, Path inputs, Path weights) {
      return List.of(
          "check",
          "--onnx=" + onnx,
          "--inputs=" + inputs,
          "--weights=" + weights,
          "--json=" + dir.resolve("report.json"));
    }

    CliFuzzScenario hostile() throws IOException {
      Path seedModel = MODELS.resolve("seed_self_attention");
      Path onnx = seedModel.resolve("model.onnx");
      Path inputs = seedModel.resolve("inputs.npz");
      Path weights = seedModel.resolve("state_dict.npz");
      String family = oneOf(HOSTILE_FAMILIES);
      String name = "hostile " + family;
      List<String> args;
      Map<String, String> properties = Map.of();
      switch (family) {
        case "nesting":
          int depth = logUniform(33, 200_000);
          name += " depth=" + depth;
          args =
              computeArgs(
                  write(
                      "q.npy",
                      HostileFiles.npy2(HostileFiles.nestedDict(depth, random), new byte[8])));
          break;
        case "digits":
          int digits = logUniform(41, 100_000);
          name += " digits=" + digits;
          args =
              computeArgs(
                  write(
                      "q.npy",
                      HostileFiles.npy2(HostileFiles.digitsDict(digits, random), new byte[8])));
          break;
        case "control-header":
          String descr = HostileFiles.controlText(random, 1 + random.nextInt(300)).replace("'", "");
          args =
              computeArgs(
                  write(
                      "q.npy",
                      HostileFiles.npy2(
                          "{'descr': '" + descr + "', 'fortran_order': False, 'shape': (2,), }",
                          new byte[8])));
          break;
        case "control-member":
          Map<String, byte[]> members = new LinkedHashMap<>();
          int count = 1 + random.nextInt(5);
          for (int i = 0; i < count; i++) {
            String member =
                HostileFiles.controlText(random, 1 + random.nextInt(80)).replace("\u0000", "");
            members.put(
                member + (random.nextInt(4) == 0 ? "" : ".npy"),
                HostileFiles.npy2(HostileFiles.GOOD_DICT, new byte[8]));
          }
          Path archive = write("weights.npz", HostileFiles.zip(members));
          args =
              random.nextBoolean()
                  ? List.of("export", "--weights=" + archive, "--out=" + dir.resolve("model.onnx"))
                  : checkArgs(onnx, archive, weights);
          break;
        case "members":
          int memberCount = random.nextBoolean() ? logUniform(2, 4096) : logUniform(4097, 20_000);
          name += " count=" + memberCount;
          Path many = dir.resolve("weights.npz");
          HostileFiles.manyMembers(many, memberCount);
          args = List.of("export", "--weights=" + many, "--out=" + dir.resolve("model.onnx"));
          break;
        case "bomb":
          int bombMembers = 1 + random.nextInt(6);
          long dataBytes = (1L << 16) + random.nextInt(3 << 20);
          name += " members=" + bombMembers + " bytes=" + dataBytes;
          Path bomb = dir.resolve("inputs.npz");
          HostileFiles.bomb(bomb, bombMembers, dataBytes);
          properties =
              Map.of(
                  "djlattention.maxArrayBytes", "" + (1 << 20),
                  "djlattention.maxInflatedBytes", "" + (4 << 20));
          args = checkArgs(onnx, bomb, weights);
          break;
        case "case-field":
          String field =
              oneOf(
                  List.of(
                      "batch",
                      "heads",
                      "kvHeads",
                      "queryLength",
                      "keyLength",
                      "headSize",
                      "valueHeadSize",
                      "rank"));
          String value = oneOf(HostileInputsTest.HOSTILE_INTEGERS);
          name += " " + field + "=" + value;
          String json =
              String.format(HostileInputsTest.FUNCTIONAL, "\"" + field + "\": " + value)
                  .replaceFirst("\"" + field + "\": [^,]*, ", "");
          Path cases =
              write("cases.json", ("{\"cases\": [" + json + "]}").getBytes(StandardCharsets.UTF_8));
          args = HostileInputsTest.conformance(dir, cases);
          break;
        case "non-regular":
          String kind = oneOf(List.of("fifo", "directory", "/dev/null", "/dev/zero"));
          Path target;
          if (kind.equals("fifo") && HostileInputsTest.mkfifo(dir.resolve("fifo"))) {
            target = dir.resolve("fifo");
          } else if (kind.startsWith("/dev/") && Files.exists(Paths.get(kind))) {
            target = Paths.get(kind);
          } else {
            kind = "directory";
            target = Files.createDirectory(dir.resolve("d.npy"));
          }
          String option = oneOf(List.of("--q", "--onnx", "--inputs", "--weights"));
          name += " " + option + " " + kind;
          args =
              option.equals("--q")
                  ? computeArgs(target)
                  : option.equals("--onnx")
                      ? checkArgs(target, inputs, weights)
                      : option.equals("--inputs")
                          ? checkArgs(onnx, target, weights)
                          : checkArgs(onnx, inputs, target);
          break;
        default:
          Path model = dir.resolve("big.onnx");
          long size = random.nextBoolean() ? 2_200_000_000L : 4097 + random.nextInt(100_000);
          try (java.io.RandomAccessFile file = new java.io.RandomAccessFile(model.toFile(), "rw")) {
            file.setLength(size);
          }
          name += " bytes=" + size;
          if (size < 1 << 30) {
            properties = Map.of("djlattention.maxModelBytes", "4096");
          }
          args = checkArgs(model, inputs, weights);
          break;
      }
      return new CliFuzzScenario(
          seed,
          name,
          args,
          List.of(dir.resolve("out.npz"), dir.resolve("report.json"), dir.resolve("model.onnx")),
          BAD_INPUT,
          properties);
    }

    // ---- compute

    CliFuzzScenario compute() throws IOException {
      Path out = dir.resolve("out.npz");
      Map<String, byte[]> files = new LinkedHashMap<>();
      files.put("q", floats(random, 2, 3, 4));
      files.put("k", floats(random, 2, 5, 4));
      files.put("v", floats(random, 2, 5, 6));
      List<String> extra = new ArrayList<>();
      String which = oneOf(List.of("q", "k", "v"));
      String mutation =
          oneOf(
              List.of(
                  "random-bytes",
                  "truncated",
                  "header",
                  "header",
                  "header",
                  "shapes",
                  "shapes",
                  "huge-scores",
                  "bad-number",
                  "bad-path"));
      String name = "compute " + mutation;
      switch (mutation) {
        case "random-bytes":
          files.put(which, randomBytes(400));
          name += " " + which;
          break;
        case "truncated":
          files.put(which, truncate(files.get(which)));
          name += " " + which;
          break;
        case "header":
          String header = mutateHeader();
          files.put(which, header(header, 4 * 2 * 3 * 4));
          name += " " + which + " " + header;
          break;
        case "shapes":
          name += " " + shapes(files, extra);
          break;
        case "huge-scores":
          // 1.2 MB files whose (300000, 300000) scores would need 360 GB
          files.put("q", floats(random, 300_000, 1));
          files.put("k", floats(random, 300_000, 1));
          files.put("v", floats(random, 300_000, 1));
          break;
        case "bad-number":
          String option =
              oneOf(
                  List.of(
                      "--scale=-1",
                      "--scale=0",
                      "--scale=NaN",
                      "--scale=abc",
                      "--softcap=-2",
                      "--softcap=Infinity",
                      "--no-such-option"));
          extra.add(option);
          name += " " + option;
          break;
        default:
          String path =
              oneOf(List.of("missing", "directory", "out-missing-dir", "out-is-directory"));
          name += " " + path;
          switch (path) {
            case "missing":
              files.remove(which);
              break;
            case "directory":
              files.remove(which);
              Files.createDirectory(dir.resolve(which + ".npy"));
              break;
            case "out-missing-dir":
              out = dir.resolve("no-such-dir").resolve("out.npz");
              break;
            default:
              Files.createDirectory(out); // stays an empty directory: the file snapshot checks it
              extra.add("--out=" + out);
              out = null;
              break;
          }
          break;
      }
      for (Map.Entry<String, byte[]> file : files.entrySet()) {
        write(file.getKey() + ".npy", file.getValue());
      }
      List<String> args = new ArrayList<>(List.of("compute"));
      for (String input : List.of("q", "k", "v")) {
        args.add("--" + input + "=" + dir.resolve(input + ".npy"));
      }
      if (extra.stream().noneMatch(a -> a.startsWith("--out="))) {
        args.add("--out=" + out);
      }
      args.addAll(extra);
      return scenario(name, args, out);
    }

    /** A header dictionary that is wrong in one way. */
    private String mutateHeader() {
      String descr = "'<f4'";
      String order = "False";
      String shape = "(2, 3, 4)";
      switch (random.nextInt(6)) {
        case 0:
          descr =
              oneOf(
                  List.of(
                      "'<U5'",
                      "'|O'",
                      "'<i4'",
                      "'<i8'",
                      "'|b1'",
                      "'<c8'",
                      "'|V4'",
                      "'<f3'",
                      "42",
                      "'<M8[ns]'"));
          break;
        case 1:
          shape =
              oneOf(
                  List.of(
                      "(-1, 4)",
                      "(99999999999, 99999999999)",
                      "(9223372036854775807, 2)",
                      "()",
                      "(2, 3, 4, 5, 6)",
                      "(24,)",
                      "[2, 3, 4]",
                      "(2, 3, 4"));
          break;
        case 2:
          order = oneOf(List.of("'maybe'", "1", "None"));
          break;
        case 3:
          return oneOf(
              List.of(
                  "{'descr': '<f4', 'shape': (2, 3, 4)}",
                  "{'descr': '<f4', 'fortran_order': False, 'shape': (2, 3, 4), 'extra': 1}",
                  "{}",
                  "not a dict",
                  "{'descr': '<f4', 'fortran_order': False, 'shape': (2, 3, 4), }}}",
                  "{'descr': '<f4', 'fortran_order': False, 'shape': (2, 3, 4), 'shape': (1,)}",
                  "{\"descr\": \"<f4\", \"fortran_order\": false, \"shape\": [2, 3, 4]}"));
        case 4:
          return "{'descr': '<f4', 'fortran_order': False, 'shape': (2, 3, 4), } \u00e9\u0000";
        default:
          shape = "(2, 3, 40)"; // more elements than the data holds
          break;
      }
      return "{'descr': " + descr + ", 'fortran_order': " + order + ", 'shape': " + shape + ", }";
    }

    /** Valid files whose shapes or dtypes do not fit together. */
    private String shapes(Map<String, byte[]> files, List<String> extra) throws IOException {
      String what =
          oneOf(
              List.of(
                  "head-size",
                  "rank",
                  "rank-5",
                  "rank-1",
                  "kv-length",
                  "heads",
                  "batch",
                  "mask-broadcast",
                  "mask-int",
                  "mask-rank",
                  "dtype-mix",
                  "int-inputs"));
      switch (what) {
        case "head-size":
          files.put("k", floats(random, 2, 5, 3));
          break;
        case "rank":
          files.put("k", floats(random, 5, 4));
          break;
        case "rank-5":
          files.put("q", floats(random, 1, 2, 1, 3, 4));
          files.put("k", floats(random, 1, 2, 1, 5, 4));
          files.put("v", floats(random, 1, 2, 1, 5, 6));
          break;
        case "rank-1":
          files.put("q", floats(random, 4));
          files.put("k", floats(random, 4));
          files.put("v", floats(random, 4));
          break;
        case "kv-length":
          files.put("v", floats(random, 2, 6, 6));
          break;
        case "heads":
          files.put("q", floats(random, 2, 6, 3, 4));
          files.put("k", floats(random, 2, 4, 5, 4));
          files.put("v", floats(random, 2, 4, 5, 6));
          break;
        case "batch":
          files.put("k", floats(random, 3, 5, 4));
          files.put("v", floats(random, 3, 5, 6));
          break;
        case "mask-broadcast":
          extra.add("--mask=" + write("mask.npy", bools(4, 5)));
          break;
        case "mask-int":
          extra.add("--mask=" + write("mask.npy", header(dict("<i4", "(3, 5)"), 4 * 15)));
          break;
        case "mask-rank":
          extra.add("--mask=" + write("mask.npy", bools(1, 2, 2, 3, 5)));
          break;
        case "dtype-mix":
          files.put("v", header(dict("<f8", "(2, 5, 6)"), 8 * 60));
          break;
        default:
          files.put("q", header(dict("<i8", "(2, 3, 4)"), 8 * 24));
          files.put("k", header(dict("<i8", "(2, 5, 4)"), 8 * 40));
          files.put("v", header(dict("<i8", "(2, 5, 6)"), 8 * 60));
          break;
      }
      return what;
    }

    // ---- check

    CliFuzzScenario check() throws IOException {
      Path model = MODELS.resolve("seed_self_attention");
      byte[] onnx = Files.readAllBytes(model.resolve("model.onnx"));
      byte[] inputs = Files.readAllBytes(model.resolve("inputs.npz"));
      byte[] weights = Files.readAllBytes(model.resolve("state_dict.npz"));
      Path json = dir.resolve("report.json");
      String mutation =
          oneOf(
              List.of(
                  "onnx-random",
                  "onnx-truncated",
                  "onnx-empty",
                  "onnx-npy",
                  "onnx-foreign-graph",
                  "onnx-bitflip",
                  "inputs-random",
                  "inputs-truncated",
                  "inputs-wrong-name",
                  "inputs-wrong-shape",
                  "inputs-huge-header",
                  "weights-random",
                  "weights-truncated",
                  "weights-foreign",
                  "bad-atol"));
      List<String> extra = new ArrayList<>();
      Set<Integer> allowed = BAD_INPUT;
      switch (mutation) {
        case "onnx-random":
          onnx = randomBytes(2000);
          break;
        case "onnx-truncated":
          onnx = truncate(onnx);
          break;
        case "onnx-empty":
          onnx = new byte[0];
          break;
        case "onnx-npy":
          onnx = floats(random, 2, 3);
          break;
        case "onnx-foreign-graph":
          onnx = Files.readAllBytes(MODELS.resolve("mha_cross").resolve("model.onnx"));
          break;
        case "onnx-bitflip":
          onnx = flipBit(onnx);
          allowed = Set.of(ExitCodes.OK, ExitCodes.CHECK_FAILED, ExitCodes.BAD_INPUT);
          break;
        case "inputs-random":
          inputs = randomBytes(600);
          break;
        case "inputs-truncated":
          inputs = truncate(inputs);
          break;
        case "inputs-wrong-name":
          inputs = npz(Map.of("y", floats(random, 2, 5, 8)));
          break;
        case "inputs-wrong-shape":
          inputs = npz(Map.of("x", floats(random, 2, 5, 7)));
          break;
        case "inputs-huge-header":
          inputs = npz(Map.of("x", header(dict("<f4", "(100000, 100000, 8)"), 64)));
          break;
        case "weights-random":
          weights = randomBytes(800);
          break;
        case "weights-truncated":
          weights = truncate(weights);
          break;
        case "weights-foreign":
          weights = Files.readAllBytes(MODELS.resolve("mha_self_bias").resolve("state_dict.npz"));
          extra.add("--heads=4");
          break;
        default:
          extra.add(oneOf(List.of("--atol=-1", "--atol=NaN", "--atol=x", "--device=tpu")));
          break;
      }
      List<String> args =
          new ArrayList<>(
              List.of(
                  "check",
                  "--onnx=" + write("model.onnx", onnx),
                  "--inputs=" + write("inputs.npz", inputs),
                  "--weights=" + write("state_dict.npz", weights),
                  "--json=" + json));
      args.addAll(extra);
      return new CliFuzzScenario(
          seed, "check " + mutation + " " + extra, args, List.of(json), allowed);
    }

    // ---- export

    CliFuzzScenario export() throws IOException {
      Path out = dir.resolve("model.onnx");
      List<String> args = new ArrayList<>(List.of("export", "--out=" + out));
      String mutation =
          oneOf(
              List.of(
                  "weights-random",
                  "weights-truncated",
                  "weights-npy",
                  "weights-foreign",
                  "weights-wrong-shape",
                  "sizes",
                  "out-missing-dir"));
      byte[] weights =
          Files.readAllBytes(MODELS.resolve("mha_self_bias").resolve("state_dict.npz"));
      switch (mutation) {
        case "weights-random":
          weights = randomBytes(800);
          break;
        case "weights-truncated":
          weights = truncate(weights);
          break;
        case "weights-npy":
          weights = floats(random, 4, 4);
          break;
        case "weights-foreign":
          // the seed module's W_q/W_k/W_v for an 8-wide, 2-head multi-head block
          weights =
              Files.readAllBytes(MODELS.resolve("seed_self_attention").resolve("state_dict.npz"));
          args.addAll(List.of("--embed=8", "--heads=2", "--kv-heads=1"));
          break;
        case "weights-wrong-shape":
          weights = npz(Map.of("in_proj_weight", floats(random, 5, 7)));
          args.addAll(List.of("--heads=2"));
          break;
        case "sizes":
          args.addAll(
              oneOf(
                  List.of(
                      List.of("--embed=8", "--heads=3"),
                      List.of("--embed=8", "--heads=4", "--kv-heads=3"),
                      List.of("--embed=0", "--heads=1"),
                      List.of("--embed=8", "--heads=-2"),
                      List.of("--embed=8", "--heads=2", "--opset=5"),
                      List.of("--embed=8", "--heads=2", "--mask-rank=7", "--mask=bool"),
                      List.of("--embed=8", "--heads=2", "--mask=sometimes"))));
          return scenario("export sizes " + args.subList(2, args.size()), args, out);
        default:
          out = dir.resolve("missing").resolve("model.onnx");
          args.set(1, "--out=" + out);
          args.addAll(List.of("--embed=8", "--heads=2"));
          return scenario("export out-missing-dir", args, out);
      }
      args.add("--weights=" + write("state_dict.npz", weights));
      return scenario("export " + mutation, args, out);
    }

    // ---- conformance

    CliFuzzScenario conformance() throws IOException {
      String caseName = "test_attention_4d_attn_mask";
      Path source = CASES.resolve(caseName);
      Path cases = dir.resolve("cases");
      Path target = cases.resolve(caseName);
      try (Stream<Path> files = Files.walk(source)) {
        for (Path file : (Iterable<Path>) files::iterator) {
          Path copy = target.resolve(source.relativize(file).toString());
          if (Files.isDirectory(file)) {
            Files.createDirectories(copy);
          } else {
            Files.copy(file, copy);
          }
        }
      }
      Path data = target.resolve("test_data_set_0");
      String mutation =
          oneOf(
              List.of(
                  "model-random",
                  "model-truncated",
                  "model-empty",
                  "input-random",
                  "input-truncated",
                  "input-npy",
                  "output-truncated",
                  "input-missing",
                  "input-huge-dims",
                  "input-ragged-raw",
                  "input-negative-dims"));
      switch (mutation) {
        case "model-random":
          Files.write(target.resolve("model.onnx"), randomBytes(1000));
          break;
        case "model-truncated":
          Files.write(
              target.resolve("model.onnx"),
              truncate(Files.readAllBytes(target.resolve("model.onnx"))));
          break;
        case "model-empty":
          Files.write(target.resolve("model.onnx"), new byte[0]);
          break;
        case "input-random":
          Files.write(data.resolve("input_1.pb"), randomBytes(500));
          break;
        case "input-truncated":
          Files.write(
              data.resolve("input_0.pb"), truncate(Files.readAllBytes(data.resolve("input_0.pb"))));
          break;
        case "input-npy":
          Files.write(data.resolve("input_2.pb"), floats(random, 2, 3, 6, 8));
          break;
        case "output-truncated":
          Files.write(
              data.resolve("output_0.pb"),
              truncate(Files.readAllBytes(data.resolve("output_0.pb"))));
          break;
        case "input-huge-dims":
          Files.write(data.resolve("input_0.pb"), tensor("Q", List.of(100_000L, 100_000L), 16));
          break;
        case "input-ragged-raw":
          Files.write(
              data.resolve("input_0.pb"), tensor("Q", List.of(2L, 3L, 4L, 8L), 4 * 192 + 3));
          break;
        case "input-negative-dims":
          Files.write(data.resolve("input_0.pb"), tensor("Q", List.of(2L, -3L, 4L, 8L), 16));
          break;
        default:
          Files.delete(data.resolve("input_1.pb"));
          break;
      }
      Path json = dir.resolve("report.json");
      Path html = dir.resolve("report.html");
      if (mutation.startsWith("input-") && mutation.endsWith("dims") || mutation.endsWith("raw")) {
        // The .pb parses; its dims disagree with its data. The conformance command reports that
        // as an erroring case (exit 1, the reason in the report), not as bad input (exit 2).
        return new CliFuzzScenario(
            seed,
            "conformance " + mutation,
            List.of(
                "conformance",
                "--suite=onnx-attention",
                "--cases=" + cases,
                "--quiet",
                "--threads=1",
                "--json=" + json),
            List.of(json),
            Set.of(ExitCodes.CHECK_FAILED, ExitCodes.BAD_INPUT));
      }
      List<String> args =
          List.of(
              "conformance",
              "--suite=onnx-attention",
              "--cases=" + cases,
              "--quiet",
              "--threads=1",
              "--json=" + json,
              "--html=" + html);
      return scenario("conformance " + mutation, args, json, html);
    }
  }

  /** A float TensorProto whose raw data has {@code rawBytes} bytes, whatever its dims say. */
  static byte[] tensor(String name, List<Long> dims, int rawBytes) {
    return ai.onnx.proto.OnnxMl.TensorProto.newBuilder()
        .setName(name)
        .setDataType(ai.onnx.proto.OnnxMl.TensorProto.DataType.FLOAT_VALUE)
        .addAllDims(dims)
        .setRawData(com.google.protobuf.ByteString.copyFrom(new byte[rawBytes]))
        .build()
        .toByteArray();
  }

  // ---- .npy and .npz bytes

  static String dict(String descr, String shape) {
    return "{'descr': '" + descr + "', 'fortran_order': False, 'shape': " + shape + ", }";
  }

  /** A version 1.0 .npy file with the given header dictionary and {@code dataBytes} of data. */
  static byte[] header(String dict, int dataBytes) {
    byte[] text = dict.getBytes(StandardCharsets.ISO_8859_1);
    int total = 10 + text.length + 1;
    int padded = (total + 63) / 64 * 64;
    ByteBuffer buffer = ByteBuffer.allocate(padded + dataBytes).order(ByteOrder.LITTLE_ENDIAN);
    buffer.put((byte) 0x93).put("NUMPY".getBytes(StandardCharsets.US_ASCII));
    buffer.put((byte) 1).put((byte) 0).putShort((short) (padded - 10));
    buffer.put(text);
    while (buffer.position() < padded - 1) {
      buffer.put((byte) ' ');
    }
    buffer.put((byte) '\n');
    for (int n = 0; n < dataBytes; n++) {
      buffer.put((byte) (n * 31));
    }
    return buffer.array();
  }

  /** A float32 .npy file of uniform values in [-1, 1). */
  static byte[] floats(Random random, long... shape) {
    long count = 1;
    StringBuilder text = new StringBuilder("(");
    for (long dim : shape) {
      count *= dim;
      text.append(dim).append(", ");
    }
    String shapeText =
        shape.length == 1 ? "(" + shape[0] + ",)" : text.substring(0, text.length() - 2) + ")";
    byte[] bytes = header(dict("<f4", shapeText), 0);
    ByteBuffer data =
        ByteBuffer.allocate(bytes.length + (int) (4 * count)).order(ByteOrder.LITTLE_ENDIAN);
    data.put(bytes);
    for (long n = 0; n < count; n++) {
      data.putFloat(random.nextFloat() * 2 - 1);
    }
    return data.array();
  }

  /** A boolean .npy file of ones. */
  static byte[] bools(long... shape) {
    long count = Arrays.stream(shape).reduce(1, (a, b) -> a * b);
    StringBuilder text = new StringBuilder("(");
    for (long dim : shape) {
      text.append(dim).append(", ");
    }
    byte[] bytes = header(dict("|b1", text.substring(0, text.length() - 2) + ")"), (int) count);
    Arrays.fill(bytes, bytes.length - (int) count, bytes.length, (byte) 1);
    return bytes;
  }

  /** An .npz (stored zip) of .npy entries. */
  static byte[] npz(Map<String, byte[]> entries) {
    ByteArrayOutputStream bytes = new ByteArrayOutputStream();
    try (ZipOutputStream zip = new ZipOutputStream(bytes)) {
      for (Map.Entry<String, byte[]> entry : entries.entrySet()) {
        zip.putNextEntry(new ZipEntry(entry.getKey() + ".npy"));
        zip.write(entry.getValue());
        zip.closeEntry();
      }
    } catch (IOException e) {
      throw new UncheckedIOException(e);
    }
    return bytes.toByteArray();
  }
}
