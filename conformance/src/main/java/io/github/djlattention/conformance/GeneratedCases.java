package io.github.djlattention.conformance;

import ai.djl.ndarray.types.DataType;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import io.github.djlattention.io.ElementType;
import io.github.djlattention.io.InputLimits;
import io.github.djlattention.reference.ReferenceAttention.Tensor;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.Collections;
import java.util.HashSet;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.SplittableRandom;
import java.util.function.Function;

/**
 * Reads {@code conformance/generated/cases.json} and draws each case's tensors from its seed.
 *
 * <p>Every value is a multiple of 1/64 ({@link SplittableRandom} with the case's seed, drawn in a
 * fixed order: inputs, parameters, mask), so float16, float32 and float64 inputs hold exactly the
 * values the float64 oracle uses. Inputs lie in [−1.5, 1.5], weights in [−0.5, 0.5], biases in
 * [−0.25, 0.25], float mask values in [−2, 2] with a quarter of them −∞. Key 0 stays visible in
 * every mask, so no row is fully masked unless the case lists it in {@code maskedRows}. Explicit
 * values (the seed document's Q and K) are rounded to the case's element type.
 */
public final class GeneratedCases {

  /** Where the project keeps the matrix, relative to the repository root. */
  public static final Path DEFAULT_FILE = Path.of("conformance", "generated", "cases.json");

  /** The kinds of case by their name in the file; a new kind is one line here and its record. */
  private static final Map<String, Function<CaseSpec, GeneratedCase>> KINDS = kinds();

  private GeneratedCases() {}

  private static Map<String, Function<CaseSpec, GeneratedCase>> kinds() {
    Map<String, Function<CaseSpec, GeneratedCase>> kinds = new LinkedHashMap<>();
    kinds.put("functional", FunctionalCase::parse);
    kinds.put("mha-block", MhaBlockCase::parse);
    kinds.put("self-block", SelfBlockCase::parse);
    return Collections.unmodifiableMap(kinds);
  }

  /**
   * Loads every case of a matrix file.
   *
   * @param file the JSON file
   * @return the cases in file order
   * @throws IllegalArgumentException when the file is missing or a case is malformed
   * @throws UncheckedIOException when the file cannot be read
   */
  public static List<GeneratedCase> load(Path file) {
    if (!Files.isRegularFile(file)) {
      throw new IllegalArgumentException("no generated cases at " + file.toAbsolutePath());
    }
    JsonNode root;
    try {
      root = new ObjectMapper().readTree(InputLimits.readFile(file, InputLimits.Limit.TEXT_BYTES));
    } catch (IOException e) {
      throw new UncheckedIOException("cannot read " + file + ": " + e.getMessage(), e);
    }
    List<GeneratedCase> cases = new ArrayList<>();
    Set<String> names = new HashSet<>();
    for (JsonNode node : root.path("cases")) {
      GeneratedCase c = parse(node);
      if (!names.add(c.name())) {
        throw new IllegalArgumentException(file + ": case name '" + c.name() + "' appears twice");
      }
      cases.add(c);
    }
    if (cases.isEmpty()) {
      throw new IllegalArgumentException(file + ": no cases");
    }
    return cases;
  }

  /**
   * Parses one case and draws its tensors.
   *
   * @param node the case's JSON object
   * @return the case
   * @throws IllegalArgumentException for unknown kinds or types, or sizes that do not fit
   */
  public static GeneratedCase parse(JsonNode node) {
    String name = required(node, "name").asText();
    String kind = required(node, "kind").asText();
    Function<CaseSpec, GeneratedCase> parser = KINDS.get(kind);
    if (parser == null) {
      throw new IllegalArgumentException(
          name
              + ": unknown kind '"
              + kind
              + "'; expected "
              + String.join(", ", KINDS.keySet()).replaceFirst(", ([^,]*)$", " or $1"));
    }
    DataType type = dataType(name, node.path("dtype").asText("float32"));
    long seed = required(node, "seed").asLong();
    return parser.apply(new CaseSpec(node, name, node.path("group").asText(kind), type, seed));
  }

  /**
   * One line of the matrix while it is read: its fields, checked, and the tensors drawn from its
   * seed in the order the kinds ask for them (inputs, parameters, mask).
   */
  static final class CaseSpec {
    private final JsonNode node;
    private final String name;
    private final String group;
    private final DataType type;
    private final long seed;
    private final SplittableRandom random;

    CaseSpec(JsonNode node, String name, String group, DataType type, long seed) {
      this.node = node;
      this.name = name;
      this.group = group;
      this.type = type;
      this.seed = seed;
      this.random = new SplittableRandom(seed);
    }

    /** The case's name. */
    String name() {
      return name;
    }

    /** Whether the line has a field. */
    boolean has(String field) {
      return node.has(field);
    }

    /** A required integer >= 1. */
    int positive(String field) {
      return integer(field, required(node, field), 1);
    }

    /** An optional size: {@code fallback} when absent, else an integer >= 1. */
    int positive(String field, int fallback) {
      return node.has(field) ? positive(field) : fallback;
    }

    /** An optional flag, false when absent. */
    boolean flag(String field) {
      return node.path(field).asBoolean(false);
    }

    /** An optional number, null when absent. */
    Double optDouble(String field) {
      return node.has(field) ? node.get(field).asDouble() : null;
    }

    /** An optional text, empty when absent. */
    String text(String field) {
      return node.path(field).asText();
    }

    /**
     * A JSON integer that fits an {@code int} and is at least {@code min}.
     *
     * @throws IllegalArgumentException naming the case, the field and the value otherwise
     */
    int integer(String field, JsonNode value, int min) {
      return GeneratedCases.integer("case " + name, field, value, min);
    }

    /** A failure naming the case. */
    IllegalArgumentException fail(String message) {
      return new IllegalArgumentException(name + ": " + message);
    }

    /**
     * Refuses a tensor whose elements would exceed {@link InputLimits.Limit#CASE_ELEMENTS} or
     * overflow, before anything is drawn.
     *
     * @param fields the fields whose product is the element count, as {@code "batch x heads"}
     * @throws IllegalArgumentException naming the case, the fields, their values and the limit
     */
    void elements(String fields, long... sizes) {
      InputLimits.product(InputLimits.Limit.CASE_ELEMENTS, "case " + name + ": " + fields, sizes);
    }

    /** Values k/64 for k uniform in [−limit, limit], the next ones from the case's seed. */
    Tensor draw(int limit, int... shape) {
      return GeneratedCases.draw(random, limit, shape);
    }

    /** An explicit matrix (a list of rows), rounded to the case's element type. */
    Tensor matrix(String field) {
      return GeneratedCases.matrix(node.get(field), type);
    }

    /**
     * Draws the case's mask, if it has one.
     *
     * @param shape the mask's shape from its JSON object, as the kind reads it
     * @param queryLength S, for {@code maskedRows}
     * @param keyLength T, the last axis
     * @return the mask, or null when the case has none
     */
    GeneratedMask mask(Function<JsonNode, int[]> shape, int queryLength, int keyLength) {
      return node.has("mask")
          ? drawMask(this, random, node.get("mask"), shape, queryLength, keyLength)
          : null;
    }

    /** The shared data of the case, with its tensors and mask. */
    GeneratedCase.CaseData data(Map<String, Tensor> tensors, GeneratedMask mask) {
      return new GeneratedCase.CaseData(name, group, type, seed, tensors, mask);
    }
  }

  private static GeneratedMask drawMask(
      CaseSpec spec,
      SplittableRandom random,
      JsonNode json,
      Function<JsonNode, int[]> shapeOf,
      int s,
      int t) {
    boolean bool;
    switch (json.path("type").asText()) {
      case "bool":
        bool = true;
        break;
      case "float":
        bool = false;
        break;
      default:
        throw spec.fail("mask type must be bool or float");
    }
    int[] shape = shapeOf.apply(json);
    Set<Integer> maskedRows = new HashSet<>();
    for (JsonNode row : json.path("maskedRows")) {
      maskedRows.add(spec.integer("mask.maskedRows[]", row, 0));
    }
    long[] maskDims = Arrays.stream(shape).asLongStream().toArray();
    spec.elements("mask.shape", maskDims);
    if (!maskedRows.isEmpty() && (shape.length < 2 || shape[shape.length - 2] != s)) {
      throw spec.fail("maskedRows needs a mask with a query axis of " + s);
    }
    int size = Arrays.stream(shape).reduce(1, (a, b) -> a * b);
    boolean[] keep = new boolean[size];
    double[] additive = new double[size];
    int rows = shape.length >= 2 ? shape[shape.length - 2] : 1;
    for (int n = 0; n < size; n++) {
      int column = n % t;
      int row = (n / t) % rows;
      boolean hidden = random.nextInt(4) == 0;
      double value = random.nextInt(-128, 129) / 64.0;
      keep[n] = column == 0 || !hidden;
      if (maskedRows.contains(row)) {
        keep[n] = false;
      }
      additive[n] = !keep[n] ? Double.NEGATIVE_INFINITY : bool ? 0 : value;
    }
    return new GeneratedMask(bool, shape, keep, additive);
  }

  /** Values k/64 for k uniform in [−limit, limit]. */
  private static Tensor draw(SplittableRandom random, int limit, int... shape) {
    int size = Arrays.stream(shape).reduce(1, (a, b) -> a * b);
    double[] data = new double[size];
    for (int i = 0; i < size; i++) {
      data[i] = random.nextInt(-limit, limit + 1) / 64.0;
    }
    return new Tensor(data, shape);
  }

  private static Tensor matrix(JsonNode rows, DataType type) {
    if (!rows.isArray() || rows.size() == 0 || !rows.get(0).isArray() || rows.get(0).size() == 0) {
      throw new IllegalArgumentException(
          "an explicit matrix must be a non-empty array of non-empty rows, got " + quote(rows));
    }
    int r = rows.size();
    int c = rows.get(0).size();
    InputLimits.product(InputLimits.Limit.CASE_ELEMENTS, "explicit matrix rows x columns", r, c);
    double[] data = new double[r * c];
    for (int i = 0; i < r; i++) {
      if (rows.get(i).size() != c) {
        throw new IllegalArgumentException(
            "ragged matrix: row " + i + " has " + rows.get(i).size() + " values, not " + c);
      }
      for (int j = 0; j < c; j++) {
        data[i * c + j] = round(rows.get(i).get(j).asDouble(), type);
      }
    }
    return new Tensor(data, new int[] {r, c});
  }

  /**
   * Rounds a value to the nearest one of an element type (ties to even).
   *
   * @param value the value
   * @param type float16, float32 or float64
   * @return the rounded value; float16 rounding assumes the normal range (|value| ≥ 2⁻¹⁴)
   */
  static double round(double value, DataType type) {
    switch (type) {
      case FLOAT32:
        return (float) value;
      case FLOAT16:
        if (value == 0) {
          return 0;
        }
        int exponent = Math.getExponent(value);
        return Math.scalb(Math.rint(Math.scalb(value, 10 - exponent)), exponent - 10);
      default:
        return value;
    }
  }

  private static DataType dataType(String name, String text) {
    return ElementType.ofName(text)
        .filter(ElementType::isFloat)
        .orElseThrow(
            () ->
                new IllegalArgumentException(
                    name + ": dtype '" + text + "' is not float16, float32 or float64"))
        .dataType();
  }

  private static JsonNode required(JsonNode node, String field) {
    if (!node.has(field)) {
      throw new IllegalArgumentException(
          "case " + node.path("name").asText("?") + " lacks '" + field + "'");
    }
    return node.get(field);
  }

  /**
   * A JSON integer that fits an {@code int} and is at least {@code min}.
   *
   * @throws IllegalArgumentException naming the case, the field and the value otherwise
   */
  private static int integer(String name, String field, JsonNode value, int min) {
    if (value == null || !value.isIntegralNumber() || !value.canConvertToInt()) {
      throw new IllegalArgumentException(
          name
              + ": "
              + field
              + " must be an integer from "
              + min
              + " to "
              + Integer.MAX_VALUE
              + ", got "
              + quote(value));
    }
    if (value.asInt() < min) {
      throw new IllegalArgumentException(
          name + ": " + field + " must be >= " + min + ", got " + value.asInt());
    }
    return value.asInt();
  }

  /** A JSON value as it appears in the file, cut to 60 characters. */
  static String quote(JsonNode value) {
    String text = String.valueOf(value);
    return text.length() <= 60 ? text : text.substring(0, 57) + "...";
  }
}
