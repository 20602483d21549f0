package io.github.djlattention.blocks;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.DataType;
import ai.djl.ndarray.types.Shape;
import ai.djl.nn.AbstractBlock;
import java.util.ArrayList;
import java.util.Collections;
import java.util.IdentityHashMap;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.TreeSet;

/**
 * Loads a PyTorch {@code state_dict} (for example read from an {@code .npz} by {@link
 * io.github.djlattention.io.Npz}) into a new {@link MultiHeadAttentionBlock} or {@link
 * SelfAttentionBlock}, inferring the kind and the sizes from the names and shapes.
 *
 * <p>Legend: E embedding, H heads, G key/value heads, D head size, Ek/Ev key/value feature sizes.
 *
 * <p>Four naming schemes are recognised; any other name is an error:
 *
 * <ul>
 *   <li>{@link Scheme#TORCH_PACKED}, {@code torch.nn.MultiheadAttention} with kdim = vdim = E:
 *       {@code in_proj_weight} (3E, E), rows [W_q; W_k; W_v], {@code in_proj_bias} (3E), {@code
 *       out_proj.weight} (E, E), {@code out_proj.bias} (E);
 *   <li>{@link Scheme#TORCH_SEPARATE}, the same module with kdim or vdim ≠ E: {@code q_proj_weight}
 *       (E, E), {@code k_proj_weight} (E, Ek), {@code v_proj_weight} (E, Ev), and the same biases;
 *   <li>{@link Scheme#BLOCK}, this library's {@link MultiHeadAttentionBlock} names: {@code
 *       q_proj.weight} (H·D, E), {@code k_proj.weight} (G·D, Ek), {@code v_proj.weight} (G·D, Ev),
 *       {@code out_proj.weight} (E, H·D), each with {@code .bias}; G is inferred from the rows;
 *   <li>{@link Scheme#SEED}, the seed document's single-head module: {@code W_q.weight}, {@code
 *       W_k.weight}, {@code W_v.weight} (D, E), each with {@code .bias}.
 * </ul>
 *
 * <p>Biases are all present or all absent. The number of heads is not in a state dict: it must be
 * given for the multi-head schemes; the seed module has one head.
 */
public final class StateDicts {

  /** The naming scheme of a state dict. */
  public enum Scheme {
    /** {@code torch.nn.MultiheadAttention} with a packed {@code in_proj_weight}. */
    TORCH_PACKED,
    /** {@code torch.nn.MultiheadAttention} with {@code q_proj_weight}, ... (kdim/vdim ≠ E). */
    TORCH_SEPARATE,
    /** {@link MultiHeadAttentionBlock}'s own names. */
    BLOCK,
    /** The seed's single-head module, {@link SelfAttentionBlock}'s names. */
    SEED
  }

  private StateDicts() {}

  /**
   * Loads a state dict into a new, non-causal block without weights output, whose parameters live
   * in the arrays' manager.
   *
   * @param stateDict the parameters by PyTorch name
   * @param heads the number of heads H for a multi-head module; 0 if not given (then only the
   *     seed's single-head names are accepted)
   * @return a {@link MultiHeadAttentionBlock} or a {@link SelfAttentionBlock}, initialized
   * @throws IllegalArgumentException for unknown or missing names, inconsistent shapes, or heads
   *     that do not fit
   */
  public static AbstractBlock load(Map<String, NDArray> stateDict, int heads) {
    if (stateDict.isEmpty()) {
      throw new IllegalArgumentException("the state dict is empty");
    }
    NDManager manager = stateDict.values().iterator().next().getManager();
    return load(manager, stateDict, heads, false, AttentionWeights.NONE);
  }

  /**
   * Loads a state dict into a new block whose parameters live in {@code manager}.
   *
   * @param manager the manager that will own the block's parameters
   * @param stateDict the parameters by PyTorch name
   * @param heads the number of heads H; 0 if not given
   * @param causal whether the block masks future keys (not recorded in a state dict)
   * @param weights which attention weights the block returns after its output
   * @return the block, initialized
   * @throws IllegalArgumentException for unknown or missing names, inconsistent shapes, or heads
   *     that do not fit
   */
  public static AbstractBlock load(
      NDManager manager,
      Map<String, NDArray> stateDict,
      int heads,
      boolean causal,
      AttentionWeights weights) {
    Map<String, Shape> shapes = new LinkedHashMap<>();
    stateDict.forEach((name, array) -> shapes.put(name, array.getShape()));
    BlockLayout layout = inspect(shapes, heads);
    AbstractBlock block = (AbstractBlock) layout.newBlock(causal, weights);
    if (layout.selfAttention()) {
      block.initialize(manager, DataType.FLOAT32, new Shape(1, 1, layout.embeddingSize()));
    } else {
      block.initialize(
          manager,
          DataType.FLOAT32,
          new Shape(1, 1, layout.embeddingSize()),
          new Shape(1, 1, layout.keySize()),
          new Shape(1, 1, layout.valueSize()));
    }
    Set<NDArray> callers = Collections.newSetFromMap(new IdentityHashMap<>());
    callers.addAll(stateDict.values());
    try (NDManager scope = manager.newSubManager()) {
      for (Map.Entry<String, NDArray> entry : blockParameters(layout, stateDict).entrySet()) {
        NDArray value = entry.getValue().toType(DataType.FLOAT32, false);
        if (!callers.contains(value)) {
          value.attach(scope); // a slice or a converted copy: freed with the scope
        }
        BlockParameters.set(block, entry.getKey(), value);
      }
    }
    return block;
  }

  /**
   * Infers the block from the names and shapes of a state dict.
   *
   * @param shapes each parameter's shape by PyTorch name
   * @param heads the number of heads H; 0 if not given
   * @return the layout of the block the state dict fits
   * @throws IllegalArgumentException for unknown or missing names, inconsistent shapes, or heads
   *     that do not fit, naming them
   */
  public static BlockLayout inspect(Map<String, Shape> shapes, int heads) {
    if (heads < 0) {
      throw new IllegalArgumentException("heads must be > 0 (or 0 for not given), got " + heads);
    }
    Scheme scheme = scheme(shapes.keySet());
    switch (scheme) {
      case SEED:
        return seed(shapes, heads);
      case BLOCK:
        return block(shapes, requireHeads(heads, scheme));
      default:
        return torch(shapes, requireHeads(heads, scheme), scheme);
    }
  }

  /**
   * Tells the naming scheme of a state dict from its names.
   *
   * @param names the state dict's names
   * @return the scheme
   * @throws IllegalArgumentException when no scheme's names are there
   */
  public static Scheme scheme(Set<String> names) {
    if (names.contains("in_proj_weight")) {
      return Scheme.TORCH_PACKED;
    }
    if (names.contains("q_proj_weight")) {
      return Scheme.TORCH_SEPARATE;
    }
    if (names.contains("q_proj.weight")) {
      return Scheme.BLOCK;
    }
    if (names.contains("W_q.weight")) {
      return Scheme.SEED;
    }
    throw new IllegalArgumentException(
        "cannot tell the module from the names "
            + new TreeSet<>(names)
            + ": expected torch.nn.MultiheadAttention's (in_proj_weight or q_proj_weight, ...,"
            + " out_proj.weight), MultiHeadAttentionBlock's (q_proj.weight, ...) or the seed"
            + " module's (W_q.weight, W_k.weight, W_v.weight)");
  }

  private static int requireHeads(int heads, Scheme scheme) {
    if (heads == 0) {
      throw new IllegalArgumentException(
          "the number of heads must be given for a multi-head state dict ("
              + scheme.name().toLowerCase(java.util.Locale.ROOT)
              + " names); it is not stored in it");
    }
    return heads;
  }

  private static BlockLayout seed(Map<String, Shape> shapes, int heads) {
    if (heads > 1) {
      throw new IllegalArgumentException(
          "the seed module (W_q.weight, ...) has one head, but heads " + heads + " was given");
    }
    boolean bias = requireNames(shapes, List.of("W_q", "W_k", "W_v"), List.of());
    Shape wq = matrix(shapes, "W_q.weight");
    long headSize = wq.get(0);
    long embedding = wq.get(1);
    for (String prefix : List.of("W_k", "W_v")) {
      expect(shapes, prefix + ".weight", headSize, embedding);
    }
    if (bias) {
      for (String prefix : List.of("W_q", "W_k", "W_v")) {
        expect(shapes, prefix + ".bias", headSize);
      }
    }
    return new BlockLayout(true, embedding, embedding, embedding, 1, 1, headSize, bias, false);
  }

  private static BlockLayout block(Map<String, Shape> shapes, int heads) {
    boolean outputProjection = shapes.containsKey("out_proj.weight");
    List<String> prefixes = new ArrayList<>(List.of("q_proj", "k_proj", "v_proj"));
    if (outputProjection) {
      prefixes.add("out_proj");
    }
    boolean bias = requireNames(shapes, prefixes, List.of());
    Shape wq = matrix(shapes, "q_proj.weight");
    long embedding = wq.get(1);
    if (wq.get(0) != embedding || embedding % heads != 0) {
      throw new IllegalArgumentException(
          "q_proj.weight "
              + wq
              + " must be (E, E) with E a multiple of heads "
              + heads
              + " (the block's head size is E / heads)");
    }
    long headSize = embedding / heads;
    Shape wk = matrix(shapes, "k_proj.weight");
    Shape wv = matrix(shapes, "v_proj.weight");
    long kvRows = wk.get(0);
    if (kvRows % headSize != 0 || heads % (kvRows / headSize) != 0 || wv.get(0) != kvRows) {
      throw new IllegalArgumentException(
          "k_proj.weight "
              + wk
              + " and v_proj.weight "
              + wv
              + " must both have G·D rows, with head size D = "
              + headSize
              + " and G dividing heads "
              + heads);
    }
    int kvHeads = (int) (kvRows / headSize);
    if (outputProjection) {
      expect(shapes, "out_proj.weight", embedding, embedding);
    }
    if (bias) {
      expect(shapes, "q_proj.bias", embedding);
      expect(shapes, "k_proj.bias", kvRows);
      expect(shapes, "v_proj.bias", kvRows);
      if (outputProjection) {
        expect(shapes, "out_proj.bias", embedding);
      }
    }
    return new BlockLayout(
        false, embedding, wk.get(1), wv.get(1), heads, kvHeads, headSize, bias, outputProjection);
  }

  private static BlockLayout torch(Map<String, Shape> shapes, int heads, Scheme scheme) {
    List<String> weights =
        scheme == Scheme.TORCH_PACKED
            ? List.of("in_proj_weight", "out_proj.weight")
            : List.of("q_proj_weight", "k_proj_weight", "v_proj_weight", "out_proj.weight");
    List<String> biases = List.of("in_proj_bias", "out_proj.bias");
    requireExactly(shapes.keySet(), weights, biases);
    long embedding;
    long keySize;
    long valueSize;
    if (scheme == Scheme.TORCH_PACKED) {
      Shape packed = matrix(shapes, "in_proj_weight");
      embedding = packed.get(1);
      expect(shapes, "in_proj_weight", 3 * embedding, embedding);
      keySize = embedding;
      valueSize = embedding;
    } else {
      embedding = matrix(shapes, "q_proj_weight").get(1);
      expect(shapes, "q_proj_weight", embedding, embedding);
      keySize = matrix(shapes, "k_proj_weight").get(1);
      valueSize = matrix(shapes, "v_proj_weight").get(1);
      expect(shapes, "k_proj_weight", embedding, keySize);
      expect(shapes, "v_proj_weight", embedding, valueSize);
    }
    expect(shapes, "out_proj.weight", embedding, embedding);
    if (embedding % heads != 0) {
      throw new IllegalArgumentException(
          "embedding size " + embedding + " is not a multiple of heads " + heads);
    }
    if (shapes.containsKey("in_proj_bias")) {
      expect(shapes, "in_proj_bias", 3 * embedding);
      expect(shapes, "out_proj.bias", embedding);
    }
    return new BlockLayout(
        false,
        embedding,
        keySize,
        valueSize,
        heads,
        heads,
        embedding / heads,
        shapes.containsKey("in_proj_bias"),
        true);
  }

  /**
   * Checks that every {@code prefix.weight} is present, that the {@code .bias} names are all there
   * or all absent, and that there is nothing else.
   *
   * @return whether the biases are present
   */
  private static boolean requireNames(
      Map<String, Shape> shapes, List<String> prefixes, List<String> extra) {
    List<String> weights = new ArrayList<>();
    List<String> biases = new ArrayList<>();
    for (String prefix : prefixes) {
      weights.add(prefix + ".weight");
      biases.add(prefix + ".bias");
    }
    weights.addAll(extra);
    requireExactly(shapes.keySet(), weights, biases);
    return shapes.containsKey(biases.get(0));
  }

  /** Required names, then biases that are all present or all absent, and no other name. */
  private static void requireExactly(
      Set<String> names, List<String> required, List<String> biases) {
    Set<String> missing = new TreeSet<>();
    for (String name : required) {
      if (!names.contains(name)) {
        missing.add(name);
      }
    }
    Set<String> unknown = new TreeSet<>(names);
    unknown.removeAll(required);
    unknown.removeAll(biases);
    if (!unknown.isEmpty()) {
      throw new IllegalArgumentException(
          "unknown names in the state dict: "
              + unknown
              + " (expected "
              + required
              + " and "
              + biases
              + ")");
    }
    boolean anyBias = biases.stream().anyMatch(names::contains);
    if (anyBias) {
      for (String name : biases) {
        if (!names.contains(name)) {
          missing.add(name);
        }
      }
    }
    if (!missing.isEmpty()) {
      throw new IllegalArgumentException(
          "missing names in the state dict: "
              + missing
              + (anyBias ? " (biases are all present or all absent)" : "")
              + "; it has "
              + new TreeSet<>(names));
    }
  }

  private static Shape matrix(Map<String, Shape> shapes, String name) {
    Shape shape = shapes.get(name);
    if (shape.dimension() != 2) {
      throw new IllegalArgumentException(name + " must be a matrix (out, in), got shape " + shape);
    }
    return shape;
  }

  private static void expect(Map<String, Shape> shapes, String name, long... dims) {
    Shape shape = shapes.get(name);
    if (!shape.equals(new Shape(dims))) {
      throw new IllegalArgumentException(
          name
              + " has shape "
              + shape
              + ", expected "
              + new Shape(dims)
              + " from the other parameters");
    }
  }

  /** The state dict's arrays under the block's parameter names, splitting packed tensors. */
  private static Map<String, NDArray> blockParameters(
      BlockLayout layout, Map<String, NDArray> dict) {
    Map<String, NDArray> params = new LinkedHashMap<>();
    long e = layout.embeddingSize();
    switch (scheme(dict.keySet())) {
      case TORCH_PACKED:
        NDArray packed = dict.get("in_proj_weight"); // (3E, E) = [W_q; W_k; W_v]
        params.put("q_proj.weight", packed.get("0:{}", e)); // (E, E)
        params.put("k_proj.weight", packed.get("{}:{}", e, 2 * e)); // (E, E)
        params.put("v_proj.weight", packed.get("{}:", 2 * e)); // (E, E)
        break;
      case TORCH_SEPARATE:
        params.put("q_proj.weight", dict.get("q_proj_weight")); // (E, E)
        params.put("k_proj.weight", dict.get("k_proj_weight")); // (E, Ek)
        params.put("v_proj.weight", dict.get("v_proj_weight")); // (E, Ev)
        break;
      default:
        params.putAll(dict);
        return params;
    }
    params.put("out_proj.weight", dict.get("out_proj.weight"));
    if (layout.bias()) {
      NDArray bias = dict.get("in_proj_bias"); // (3E)
      params.put("q_proj.bias", bias.get("0:{}", e));
      params.put("k_proj.bias", bias.get("{}:{}", e, 2 * e));
      params.put("v_proj.bias", bias.get("{}:", 2 * e));
      params.put("out_proj.bias", dict.get("out_proj.bias"));
    }
    return params;
  }
}
