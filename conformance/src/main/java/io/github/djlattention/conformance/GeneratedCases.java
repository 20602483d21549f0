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
import java.util.HashSet;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.SplittableRandom;

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

  private GeneratedCases() {}

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
    String kindText = required(node, "kind").asText();
    GeneratedCase.Kind kind;
    switch (kindText) {
      case "functional":
        kind = GeneratedCase.Kind.FUNCTIONAL;
        break;
      case "mha-block":
        kind = GeneratedCase.Kind.MHA_BLOCK;
        break;
      case "self-block":
        kind = GeneratedCase.Kind.SELF_BLOCK;
        break;
      default:
        throw new IllegalArgumentException(
            name
                + ": unknown kind '"
                + kindText
                + "'; expected functional, mha-block or self-block");
    }
    DataType type = dataType(name, node.path("dtype").asText("float32"));
    long seed = required(node, "seed").asLong();
    SplittableRandom random = new SplittableRandom(seed);
    Map<String, Tensor> tensors = new LinkedHashMap<>();
    boolean causal = node.path("causal").asBoolean(false);
    Double scale = node.has("scale") ? node.get("scale").asDouble() : null;
    Double softcap = node.has("softcap") ? node.get("softcap").asDouble() : null;
    int batch;
    int heads;
    int kvHeads;
    int s;
    int t;
    int d;
    int dv;
    int rank = 3;
    int embed = 0;
    int keySize = 0;
    int valueSize = 0;
    boolean cross = false;
    boolean bias = node.path("bias").asBoolean(false);
    if (kind == GeneratedCase.Kind.FUNCTIONAL && node.has("query")) {
      // Explicit 2-D query and key (S, D), (T, D); the value is the identity (T, T).
      Tensor q = matrix(node.get("query"), type);
      Tensor k = matrix(node.get("key"), type);
      if (!node.path("value").asText().equals("identity")) {
        throw new IllegalArgumentException(
            name + ": an explicit case's value must be \"identity\"");
      }
      batch = 1;
      heads = 1;
      kvHeads = 1;
      rank = 2;
      s = q.shape()[0];
      d = q.shape()[1];
      t = k.shape()[0];
      dv = t;
      double[] eye = new double[t * t];
      for (int i = 0; i < t; i++) {
        eye[i * t + i] = 1;
      }
      tensors.put("query", q);
      tensors.put("key", k);
      tensors.put("value", new Tensor(eye, new int[] {t, t}));
    } else if (kind == GeneratedCase.Kind.FUNCTIONAL) {
      batch = positive(node, "batch");
      heads = positive(node, "heads");
      kvHeads = positive(node, "kvHeads", heads);
      s = positive(node, "queryLength");
      t = positive(node, "keyLength", s);
      d = positive(node, "headSize");
      dv = positive(node, "valueHeadSize", d);
      rank = positive(node, "rank", 4);
      if (heads % kvHeads != 0
          || (rank < 4 && heads != 1)
          || (rank == 2 && batch != 1)
          || rank < 2
          || rank > 4) {
        throw new IllegalArgumentException(
            name
                + ": heads "
                + heads
                + ", kvHeads "
                + kvHeads
                + ", batch "
                + batch
                + " do not fit rank "
                + rank);
      }
      elements(name, "batch x heads x queryLength x headSize", batch, heads, s, d);
      elements(name, "batch x kvHeads x keyLength x headSize", batch, kvHeads, t, d);
      elements(name, "batch x kvHeads x keyLength x valueHeadSize", batch, kvHeads, t, dv);
      elements(name, "batch x heads x queryLength x keyLength", batch, heads, s, t);
      tensors.put("query", draw(random, 96, shape(rank, batch, heads, s, d)));
      tensors.put("key", draw(random, 96, shape(rank, batch, kvHeads, t, d)));
      tensors.put("value", draw(random, 96, shape(rank, batch, kvHeads, t, dv)));
    } else {
      batch = positive(node, "batch");
      embed = positive(node, "embed");
      s = positive(node, "queryLength");
      if (kind == GeneratedCase.Kind.SELF_BLOCK) {
        heads = 1;
        kvHeads = 1;
        t = s;
        d = positive(node, "headSize");
        keySize = embed;
        valueSize = embed;
      } else {
        heads = positive(node, "heads");
        kvHeads = positive(node, "kvHeads", heads);
        cross = node.path("cross").asBoolean(false);
        t = cross ? positive(node, "keyLength", s) : s;
        keySize = cross ? positive(node, "keySize", embed) : embed;
        valueSize = cross ? positive(node, "valueSize", embed) : embed;
        if (embed % heads != 0 || heads % kvHeads != 0) {
          throw new IllegalArgumentException(
              name
                  + ": embed "
                  + embed
                  + ", heads "
                  + heads
                  + ", kvHeads "
                  + kvHeads
                  + " do not fit");
        }
        d = embed / heads;
      }
      dv = d;
      elements(name, "batch x queryLength x embed", batch, s, embed);
      elements(name, "batch x keyLength x keySize", batch, t, keySize);
      elements(name, "batch x keyLength x valueSize", batch, t, valueSize);
      elements(name, "batch x heads x queryLength x keyLength", batch, heads, s, t);
      elements(name, "heads x headSize x embed", heads, d, embed);
      elements(name, "kvHeads x headSize x keySize", kvHeads, d, keySize);
      elements(name, "kvHeads x headSize x valueSize", kvHeads, d, valueSize);
      if (cross) {
        tensors.put("query", draw(random, 96, new int[] {batch, s, embed}));
        tensors.put("key", draw(random, 96, new int[] {batch, t, keySize}));
        tensors.put("value", draw(random, 96, new int[] {batch, t, valueSize}));
      } else {
        tensors.put("x", draw(random, 96, new int[] {batch, s, embed}));
      }
      drawParameters(random, kind, tensors, heads, kvHeads, d, embed, keySize, valueSize, bias);
    }
    GeneratedMask mask =
        node.has("mask")
            ? drawMask(name, random, node.get("mask"), kind, batch, heads, s, t, rank)
            : null;
    return new GeneratedCase(
        name,
        node.path("group").asText(kindText),
        kind,
        type,
        seed,
        batch,
        heads,
        kvHeads,
        s,
        t,
        d,
        dv,
        rank,
        embed,
        keySize,
        valueSize,
        cross,
        bias,
        causal,
        scale,
        softcap,
        tensors,
        mask);
  }

  private static void drawParameters(
      SplittableRandom random,
      GeneratedCase.Kind kind,
      Map<String, Tensor> tensors,
      int heads,
      int kvHeads,
      int d,
      int embed,
      int keySize,
      int valueSize,
      boolean bias) {
    if (kind == GeneratedCase.Kind.SELF_BLOCK) {
      for (String role : new String[] {"q", "k", "v"}) {
        tensors.put("W_" + role + ".weight", draw(random, 32, new int[] {d, embed}));
      }
      if (bias) {
        for (String role : new String[] {"q", "k", "v"}) {
          tensors.put("W_" + role + ".bias", draw(random, 16, new int[] {d}));
        }
      }
      return;
    }
    tensors.put("q_proj.weight", draw(random, 32, new int[] {heads * d, embed}));
    tensors.put("k_proj.weight", draw(random, 32, new int[] {kvHeads * d, keySize}));
    tensors.put("v_proj.weight", draw(random, 32, new int[] {kvHeads * d, valueSize}));
    tensors.put("out_proj.weight", draw(random, 32, new int[] {embed, heads * d}));
    if (bias) {
      tensors.put("q_proj.bias", draw(random, 16, new int[] {heads * d}));
      tensors.put("k_proj.bias", draw(random, 16, new int[] {kvHeads * d}));
      tensors.put("v_proj.bias", draw(random, 16, new int[] {kvHeads * d}));
      tensors.put("out_proj.bias", draw(random, 16, new int[] {embed}));
    }
  }

  private static GeneratedMask drawMask(
      String name,
      SplittableRandom random,
      JsonNode spec,
      GeneratedCase.Kind kind,
      int batch,
      int heads,
      int s,
      int t,
      int rank) {
    int[] weights =
        rank == 2
            ? new int[] {s, t}
            : rank == 3 ? new int[] {batch, s, t} : new int[] {batch, heads, s, t};
    boolean bool;
    switch (spec.path("type").asText()) {
      case "bool":
        bool = true;
        break;
      case "float":
        bool = false;
        break;
      default:
        throw new IllegalArgumentException(name + ": mask type must be bool or float");
    }
    int[] shape;
    if (kind == GeneratedCase.Kind.FUNCTIONAL) {
      JsonNode dims = spec.path("shape");
      if (!dims.isArray() || dims.size() > weights.length) {
        throw new IllegalArgumentException(
            name
                + ": mask.shape must be an array of at most "
                + weights.length
                + " sizes, got "
                + quote(dims));
      }
      shape = new int[dims.size()];
      for (int i = 0; i < shape.length; i++) {
        shape[i] = integer("case " + name, "mask.shape[" + i + "]", dims.get(i), 1);
        int axis = weights[weights.length - shape.length + i];
        if (shape[i] != 1 && shape[i] != axis) {
          throw new IllegalArgumentException(
              name
                  + ": mask "
                  + Arrays.toString(shape)
                  + " does not broadcast to the weights "
                  + Arrays.toString(weights)
                  + " (mask.shape["
                  + i
                  + "] is "
                  + shape[i]
                  + ")");
        }
      }
      if (shape.length == 0 || shape[shape.length - 1] != t) {
        throw new IllegalArgumentException(
            name + ": mask " + Arrays.toString(shape) + " must end in the key length " + t);
      }
    } else {
      int maskRank = spec.path("rank").asInt(2);
      switch (maskRank) {
        case 2:
          shape = new int[] {s, t};
          break;
        case 3:
          shape = new int[] {batch, s, t};
          break;
        case 4:
          shape = new int[] {batch, heads, s, t};
          break;
        default:
          throw new IllegalArgumentException(name + ": block mask rank must be 2, 3 or 4");
      }
    }
    Set<Integer> maskedRows = new HashSet<>();
    for (JsonNode row : spec.path("maskedRows")) {
      maskedRows.add(integer("case " + name, "mask.maskedRows[]", row, 0));
    }
    long[] maskDims = Arrays.stream(shape).asLongStream().toArray();
    InputLimits.product(InputLimits.Limit.CASE_ELEMENTS, "case " + name + ": mask.shape", maskDims);
    if (!maskedRows.isEmpty() && (shape.length < 2 || shape[shape.length - 2] != s)) {
      throw new IllegalArgumentException(
          name + ": maskedRows needs a mask with a query axis of " + s);
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

  private static int[] shape(int rank, int batch, int heads, int length, int size) {
    switch (rank) {
      case 2:
        return new int[] {length, size};
      case 3:
        return new int[] {batch, length, size};
      default:
        return new int[] {batch, heads, length, size};
    }
  }

  /** Values k/64 for k uniform in [−limit, limit]. */
  private static Tensor draw(SplittableRandom random, int limit, int[] shape) {
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

  private static int positive(JsonNode node, String field) {
    return integer("case " + node.path("name").asText("?"), field, required(node, field), 1);
  }

  /** An optional size: {@code fallback} when absent, else an integer >= 1. */
  private static int positive(JsonNode node, String field, int fallback) {
    if (!node.has(field)) {
      return fallback;
    }
    return positive(node, field);
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

  /**
   * Refuses a tensor whose elements would exceed {@link InputLimits.Limit#CASE_ELEMENTS} or
   * overflow, before anything is drawn.
   *
   * @param fields the fields whose product is the element count, as {@code "batch x heads"}
   * @throws IllegalArgumentException naming the case, the fields, their values and the limit
   */
  private static void elements(String name, String fields, long... sizes) {
    InputLimits.product(InputLimits.Limit.CASE_ELEMENTS, "case " + name + ": " + fields, sizes);
  }

  /** A JSON value as it appears in the file, cut to 60 characters. */
  private static String quote(JsonNode value) {
    String text = String.valueOf(value);
    return text.length() <= 60 ? text : text.substring(0, 57) + "...";
  }
}
