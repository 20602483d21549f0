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
import java.util.Locale;
import java.util.Map;
import java.util.Set;
import java.util.TreeSet;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/**
 * Loads PyTorch {@code state_dict}s and Hugging Face checkpoints (for example read from an {@code
 * .npz} by {@link io.github.djlattention.io.Npz}) into the attention blocks: into a block the
 * application built ({@link #load(AttentionBlock, Map)}, {@link #load(AttentionBlock, Map, int)}),
 * or into a new one whose sizes are inferred from the names and shapes ({@link #load(NDManager,
 * Map, int, boolean, AttentionWeights)}).
 *
 * <p>Legend: E embedding, H heads, G key/value heads, D head size, Ek/Ev key/value feature sizes, N
 * a layer index.
 *
 * <p>Naming schemes of a single module; any other name is an error:
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
 * <p>Hugging Face checkpoints hold many layers; one is chosen by its index N ({@link #layers} lists
 * them), every name outside that layer's attention is left alone, and the names inside it must be
 * known. Any prefix before the names shown ({@code bert.}, {@code transformer.}, {@code model.}) is
 * accepted:
 *
 * <ul>
 *   <li>{@link Scheme#BERT}: {@code encoder.layer.N.attention.self.query.weight}, {@code ...key},
 *       {@code ...value} (E, E), {@code encoder.layer.N.attention.output.dense.weight} (E, E), each
 *       with {@code .bias}: {@code nn.Linear}s as the block stores them. The layer's {@code
 *       attention.output.LayerNorm} is not part of the attention and is left alone (as are the
 *       residual connection and dropout).
 *   <li>{@link Scheme#GPT2}: {@code h.N.attn.c_attn.weight} (E, 3E) and {@code
 *       h.N.attn.c_proj.weight} (E, E), with {@code .bias} (3E) and (E). GPT-2 stores them as
 *       {@code Conv1D}, y = x·W + b with W shaped (in, out), the transpose of {@code nn.Linear}'s:
 *       the columns of {@code c_attn} are [W_q | W_k | W_v], and each is transposed into the block.
 *       The causal-mask buffers {@code attn.bias} and {@code attn.masked_bias} are not parameters
 *       and are skipped. GPT-2's attention is causal: build the block with {@code optCausal(true)}
 *       to reproduce it.
 *   <li>{@link Scheme#LLAMA}: {@code layers.N.self_attn.q_proj.weight} (H·D, E), {@code k_proj} and
 *       {@code v_proj} (G·D, E) (grouped-query heads: G is inferred from the rows), {@code
 *       o_proj.weight} (E, H·D), biases only if all four have them. The buffer {@code
 *       rotary_emb.inv_freq} is skipped. <b>The block applies no rotary position embedding</b>: it
 *       reproduces a Llama layer's projections and attention for queries and keys that the caller
 *       has rotated, not the layer as a whole. Llama is causal.
 * </ul>
 *
 * <p>Biases are all present or all absent. The number of heads is not in a state dict: it must be
 * given for the multi-head schemes (or comes from the block loaded into); the seed module has one.
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
    SEED,
    /** A Hugging Face BERT-style encoder: {@code encoder.layer.N.attention.self.query}, ... */
    BERT,
    /** A Hugging Face GPT-2 decoder: {@code h.N.attn.c_attn}, {@code c_proj} (Conv1D layout). */
    GPT2,
    /**
     * A Hugging Face Llama-style decoder: {@code layers.N.self_attn.q_proj}, ..., {@code o_proj}.
     */
    LLAMA;

    /** Whether the checkpoint holds numbered layers, of which one is loaded. */
    public boolean isLayered() {
      return this == BERT || this == GPT2 || this == LLAMA;
    }

    private String label() {
      switch (this) {
        case BERT:
          return "Hugging Face BERT";
        case GPT2:
          return "Hugging Face GPT-2";
        case LLAMA:
          return "Hugging Face Llama";
        default:
          return name().toLowerCase(Locale.ROOT).replace('_', ' ');
      }
    }
  }

  private static final Pattern BERT =
      Pattern.compile("^(.*?)(?:^|(?<=\\.))encoder\\.layer\\.(\\d+)\\.attention\\.(.*)$");
  private static final Pattern GPT2 =
      Pattern.compile("^(.*?)(?:^|(?<=\\.))h\\.(\\d+)\\.attn\\.(.*)$");
  private static final Pattern LLAMA =
      Pattern.compile("^(.*?)(?:^|(?<=\\.))layers\\.(\\d+)\\.self_attn\\.(.*)$");

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
   * Loads a state dict of a single module into a new block whose parameters live in {@code
   * manager}, initialized for float32.
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
    BlockLayout layout = inspect(shapes(stateDict), heads);
    AttentionBlock block = layout.newBlock(causal, weights);
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
    load(block, stateDict);
    return (AbstractBlock) block;
  }

  /**
   * Loads the state dict of a single module into an initialized block, converting the arrays to the
   * block's parameter type. Nothing is written unless every parameter fits.
   *
   * @param block an initialized attention block
   * @param stateDict the parameters by PyTorch name (the arrays are read, not kept or closed)
   * @throws IllegalArgumentException for unknown or missing names, for a Hugging Face checkpoint
   *     (give the layer), and when a parameter's shape does not fit the block, naming the parameter
   *     and both shapes
   * @throws IllegalStateException when the block is not initialized
   */
  public static void load(AttentionBlock block, Map<String, NDArray> stateDict) {
    Scheme scheme = scheme(stateDict.keySet());
    if (scheme.isLayered()) {
      throw new IllegalArgumentException(
          "this is a "
              + scheme.label()
              + " checkpoint with layers "
              + layers(stateDict.keySet())
              + ": give the layer to load, load(block, checkpoint, layer)");
    }
    write(block, stateDict, sources(scheme, stateDict.keySet(), -1));
  }

  /**
   * Loads one layer's attention of a Hugging Face checkpoint ({@link Scheme#BERT}, {@link
   * Scheme#GPT2} or {@link Scheme#LLAMA}) into an initialized block, converting the arrays to the
   * block's parameter type. Nothing is written unless every parameter fits.
   *
   * @param block an initialized attention block
   * @param checkpoint the checkpoint's tensors by name (read, not kept or closed)
   * @param layer the layer index N
   * @throws IllegalArgumentException when the names are not a Hugging Face scheme's, the layer is
   *     not there, a name inside the layer's attention is unknown, or a parameter's shape does not
   *     fit the block, naming the parameter and both shapes
   * @throws IllegalStateException when the block is not initialized
   */
  public static void load(AttentionBlock block, Map<String, NDArray> checkpoint, int layer) {
    Scheme scheme = requireLayered(checkpoint.keySet());
    write(block, checkpoint, sources(scheme, checkpoint.keySet(), layer));
  }

  /**
   * Infers the block that a single module's state dict fits, from its names and shapes.
   *
   * @param shapes each parameter's shape by PyTorch name
   * @param heads the number of heads H; 0 if not given
   * @return the layout of the block the state dict fits
   * @throws IllegalArgumentException for unknown or missing names, inconsistent shapes, or heads
   *     that do not fit, naming them
   */
  public static BlockLayout inspect(Map<String, Shape> shapes, int heads) {
    Scheme scheme = scheme(shapes.keySet());
    if (scheme.isLayered()) {
      throw new IllegalArgumentException(
          "this is a "
              + scheme.label()
              + " checkpoint with layers "
              + layers(shapes.keySet())
              + ": give the layer, inspect(shapes, heads, layer)");
    }
    return infer(sources(scheme, shapes.keySet(), -1), shapes, heads, scheme);
  }

  /**
   * Infers the block that one layer's attention of a Hugging Face checkpoint fits.
   *
   * @param shapes each tensor's shape by name
   * @param heads the number of query heads H (the model's {@code num_attention_heads} or {@code
   *     n_head}); the key/value heads are inferred
   * @param layer the layer index N
   * @return the layout of the block the layer fits
   * @throws IllegalArgumentException as {@link #load(AttentionBlock, Map, int)} does, or when the
   *     heads do not fit
   */
  public static BlockLayout inspect(Map<String, Shape> shapes, int heads, int layer) {
    Scheme scheme = requireLayered(shapes.keySet());
    return infer(sources(scheme, shapes.keySet(), layer), shapes, heads, scheme);
  }

  /**
   * Tells the naming scheme of a state dict or checkpoint from its names.
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
    for (String name : names) {
      if (matches(BERT, name, "self.query.weight")) {
        return Scheme.BERT;
      }
      if (matches(GPT2, name, "c_attn.weight")) {
        return Scheme.GPT2;
      }
      if (matches(LLAMA, name, "q_proj.weight")) {
        return Scheme.LLAMA;
      }
    }
    throw new IllegalArgumentException(
        "cannot tell the module from the names "
            + abbreviated(names)
            + ": expected torch.nn.MultiheadAttention's (in_proj_weight or q_proj_weight, ...,"
            + " out_proj.weight), MultiHeadAttentionBlock's (q_proj.weight, ...), the seed"
            + " module's (W_q.weight, W_k.weight, W_v.weight), or a Hugging Face BERT"
            + " (encoder.layer.N.attention.self.query.weight), GPT-2 (h.N.attn.c_attn.weight) or"
            + " Llama (layers.N.self_attn.q_proj.weight) checkpoint");
  }

  /**
   * Lists the attention layers of a Hugging Face checkpoint.
   *
   * @param names the checkpoint's names
   * @return the layer indices, ascending
   * @throws IllegalArgumentException when the names are not a Hugging Face scheme's
   */
  public static List<Integer> layers(Set<String> names) {
    Scheme scheme = requireLayered(names);
    Pattern pattern = pattern(scheme);
    Set<Integer> layers = new TreeSet<>();
    for (String name : names) {
      Matcher m = pattern.matcher(name);
      if (m.matches()) {
        layers.add(Integer.parseInt(m.group(2)));
      }
    }
    return List.copyOf(layers);
  }

  // ---- where each block parameter comes from ----

  /**
   * A block parameter's origin in a checkpoint: the tensor {@code name}, or part {@code part} of
   * {@code parts} equal parts along {@code axis}, then transposed if {@code transpose}.
   */
  private record Source(String name, int axis, int part, int parts, boolean transpose) {

    static Source whole(String name) {
      return new Source(name, 0, 0, 1, false);
    }

    static Source rows(String name, int part, int parts) {
      return new Source(name, 0, part, parts, false);
    }

    boolean identity() {
      return parts == 1 && !transpose;
    }

    /** Whether the block's parameter {@code target} is anything but this tensor as it is named. */
    boolean renames(String target) {
      return !identity() || !name.equals(target);
    }

    /** The shape of the part, or an exception naming the tensor when it does not split. */
    Shape shape(Shape whole) {
      if (whole.dimension() <= axis || (transpose && whole.dimension() != 2)) {
        throw new IllegalArgumentException(
            name
                + " has shape "
                + whole
                + ", expected "
                + (transpose ? "a matrix" : (axis + 1) + " or more dimensions"));
      }
      long size = whole.get(axis);
      if (size % parts != 0) {
        throw new IllegalArgumentException(
            name + " has shape " + whole + ": axis " + axis + " does not split into " + parts);
      }
      long[] dims = whole.getShape().clone();
      dims[axis] = size / parts;
      Shape shape = new Shape(dims);
      if (transpose) {
        shape = new Shape(shape.get(1), shape.get(0));
      }
      return shape;
    }

    NDArray take(NDArray whole) {
      NDArray slice = whole;
      if (parts > 1) {
        long size = whole.getShape().get(axis) / parts;
        slice =
            axis == 0
                ? whole.get("{}:{}", part * size, (part + 1) * size)
                : whole.get(":, {}:{}", part * size, (part + 1) * size);
      }
      return transpose ? slice.transpose() : slice;
    }

    String describe() {
      if (identity()) {
        return name;
      }
      String split =
          parts == 1
              ? name
              : name + (axis == 0 ? " rows" : " columns") + " part " + (part + 1) + " of " + parts;
      return transpose ? split + ", transposed" : split;
    }
  }

  /** What a scheme's module is made of, under the names of one module or one layer. */
  private record Names(List<String> required, List<String> biases, List<String> skipped) {}

  /** The block parameters by name, each with its source, for a checked set of names. */
  private static Map<String, Source> sources(Scheme scheme, Set<String> names, int layer) {
    String prefix = "";
    Set<String> scope = names;
    if (scheme.isLayered()) {
      prefix = layerPrefix(scheme, names, layer);
      scope = new TreeSet<>();
      for (String name : names) {
        if (name.startsWith(prefix)) {
          scope.add(name.substring(prefix.length()));
        }
      }
    }
    Names expected = names(scheme, scope);
    requireExactly(scope, expected, prefix, scheme);
    boolean bias = !expected.biases().isEmpty() && scope.contains(expected.biases().get(0));
    Map<String, Source> sources = new LinkedHashMap<>();
    String p = prefix;
    switch (scheme) {
      case TORCH_PACKED:
      case TORCH_SEPARATE:
        String[] targets = {"q_proj", "k_proj", "v_proj"};
        String[] separate = {"q_proj_weight", "k_proj_weight", "v_proj_weight"};
        for (int i = 0; i < 3; i++) {
          sources.put(
              targets[i] + ".weight",
              scheme == Scheme.TORCH_PACKED
                  ? Source.rows("in_proj_weight", i, 3)
                  : Source.whole(separate[i]));
          if (bias) {
            sources.put(targets[i] + ".bias", Source.rows("in_proj_bias", i, 3));
          }
        }
        put(sources, "out_proj", Source.whole("out_proj.weight"), bias);
        break;
      case BERT:
        put(sources, "q_proj", Source.whole(p + "self.query.weight"), bias);
        put(sources, "k_proj", Source.whole(p + "self.key.weight"), bias);
        put(sources, "v_proj", Source.whole(p + "self.value.weight"), bias);
        put(sources, "out_proj", Source.whole(p + "output.dense.weight"), bias);
        break;
      case GPT2:
        String[] qkv = {"q_proj", "k_proj", "v_proj"};
        for (int i = 0; i < 3; i++) {
          // Conv1D: c_attn.weight (E, 3E) = [W_q | W_k | W_v], each (in, out).
          sources.put(qkv[i] + ".weight", new Source(p + "c_attn.weight", 1, i, 3, true));
          if (bias) {
            sources.put(qkv[i] + ".bias", Source.rows(p + "c_attn.bias", i, 3));
          }
        }
        sources.put("out_proj.weight", new Source(p + "c_proj.weight", 0, 0, 1, true));
        if (bias) {
          sources.put("out_proj.bias", Source.whole(p + "c_proj.bias"));
        }
        break;
      case LLAMA:
        put(sources, "q_proj", Source.whole(p + "q_proj.weight"), bias);
        put(sources, "k_proj", Source.whole(p + "k_proj.weight"), bias);
        put(sources, "v_proj", Source.whole(p + "v_proj.weight"), bias);
        put(sources, "out_proj", Source.whole(p + "o_proj.weight"), bias);
        break;
      default: // BLOCK, SEED: the block's own names
        for (String name : scope) {
          sources.put(name, Source.whole(name));
        }
        break;
    }
    return sources;
  }

  /** A projection's weight source and, with bias, the bias beside it ({@code .weight → .bias}). */
  private static void put(Map<String, Source> sources, String target, Source weight, boolean bias) {
    sources.put(target + ".weight", weight);
    if (bias) {
      String name = weight.name();
      sources.put(
          target + ".bias",
          Source.whole(name.substring(0, name.length() - ".weight".length()) + ".bias"));
    }
  }

  private static Names names(Scheme scheme, Set<String> scope) {
    switch (scheme) {
      case TORCH_PACKED:
        return new Names(
            List.of("in_proj_weight", "out_proj.weight"),
            List.of("in_proj_bias", "out_proj.bias"),
            List.of());
      case TORCH_SEPARATE:
        return new Names(
            List.of("q_proj_weight", "k_proj_weight", "v_proj_weight", "out_proj.weight"),
            List.of("in_proj_bias", "out_proj.bias"),
            List.of());
      case BLOCK:
        boolean out = scope.contains("out_proj.weight");
        return projections(out ? List.of("q_proj", "k_proj", "v_proj", "out_proj") : qkv());
      case SEED:
        return projections(List.of("W_q", "W_k", "W_v"));
      case BERT:
        Names bert = projections(List.of("self.query", "self.key", "self.value", "output.dense"));
        return new Names(
            bert.required(),
            bert.biases(),
            List.of("output.LayerNorm.weight", "output.LayerNorm.bias"));
      case GPT2:
        Names gpt2 = projections(List.of("c_attn", "c_proj"));
        return new Names(gpt2.required(), gpt2.biases(), List.of("bias", "masked_bias"));
      default: // LLAMA
        Names llama = projections(List.of("q_proj", "k_proj", "v_proj", "o_proj"));
        return new Names(llama.required(), llama.biases(), List.of("rotary_emb.inv_freq"));
    }
  }

  private static List<String> qkv() {
    return List.of("q_proj", "k_proj", "v_proj");
  }

  private static Names projections(List<String> prefixes) {
    List<String> weights = new ArrayList<>();
    List<String> biases = new ArrayList<>();
    for (String prefix : prefixes) {
      weights.add(prefix + ".weight");
      biases.add(prefix + ".bias");
    }
    return new Names(weights, biases, List.of());
  }

  /** Required names, then biases that are all present or all absent, and no other name. */
  private static void requireExactly(Set<String> names, Names expected, String prefix, Scheme s) {
    Set<String> missing = new TreeSet<>();
    for (String name : expected.required()) {
      if (!names.contains(name)) {
        missing.add(prefix + name);
      }
    }
    Set<String> unknown = new TreeSet<>();
    for (String name : names) {
      if (!expected.required().contains(name)
          && !expected.biases().contains(name)
          && !expected.skipped().contains(name)) {
        unknown.add(prefix + name);
      }
    }
    if (!unknown.isEmpty()) {
      throw new IllegalArgumentException(
          "unknown names in the "
              + (s.isLayered() ? s.label() + " layer " + prefix : "state dict")
              + ": "
              + unknown
              + " (expected "
              + prefixed(prefix, expected.required())
              + " and "
              + prefixed(prefix, expected.biases())
              + ")");
    }
    boolean anyBias = expected.biases().stream().anyMatch(names::contains);
    if (anyBias) {
      for (String name : expected.biases()) {
        if (!names.contains(name)) {
          missing.add(prefix + name);
        }
      }
    }
    if (!missing.isEmpty()) {
      throw new IllegalArgumentException(
          "missing names in the "
              + (s.isLayered() ? s.label() + " layer " + prefix : "state dict")
              + ": "
              + missing
              + (anyBias ? " (biases are all present or all absent)" : "")
              + "; it has "
              + prefixed(prefix, new ArrayList<>(new TreeSet<>(names))));
    }
  }

  private static List<String> prefixed(String prefix, List<String> names) {
    List<String> out = new ArrayList<>();
    names.forEach(name -> out.add(prefix + name));
    return out;
  }

  // ---- Hugging Face layers ----

  private static Pattern pattern(Scheme scheme) {
    switch (scheme) {
      case BERT:
        return BERT;
      case GPT2:
        return GPT2;
      default:
        return LLAMA;
    }
  }

  private static boolean matches(Pattern pattern, String name, String rest) {
    Matcher m = pattern.matcher(name);
    return m.matches() && m.group(3).equals(rest);
  }

  private static Scheme requireLayered(Set<String> names) {
    Scheme scheme = scheme(names);
    if (!scheme.isLayered()) {
      throw new IllegalArgumentException(
          "a "
              + scheme.label()
              + " state dict is one module without layers: load it without a layer index");
    }
    return scheme;
  }

  /** The name prefix of one layer's attention, e.g. {@code bert.encoder.layer.3.attention.}. */
  private static String layerPrefix(Scheme scheme, Set<String> names, int layer) {
    Pattern pattern = pattern(scheme);
    Set<String> prefixes = new TreeSet<>();
    for (String name : names) {
      Matcher m = pattern.matcher(name);
      if (m.matches() && Integer.parseInt(m.group(2)) == layer) {
        prefixes.add(name.substring(0, name.length() - m.group(3).length()));
      }
    }
    if (prefixes.isEmpty()) {
      throw new IllegalArgumentException(
          "the "
              + scheme.label()
              + " checkpoint has no layer "
              + layer
              + "; its layers are "
              + layers(names));
    }
    if (prefixes.size() > 1) {
      throw new IllegalArgumentException(
          "layer "
              + layer
              + " of the "
              + scheme.label()
              + " checkpoint is there under several"
              + " prefixes, "
              + prefixes
              + ": pass the tensors of one model");
    }
    return prefixes.iterator().next();
  }

  private static String abbreviated(Set<String> names) {
    List<String> sorted = new ArrayList<>(new TreeSet<>(names));
    if (sorted.size() <= 12) {
      return sorted.toString();
    }
    return sorted.subList(0, 12) + " and " + (sorted.size() - 12) + " more";
  }

  // ---- inferring the layout ----

  private static BlockLayout infer(
      Map<String, Source> sources, Map<String, Shape> shapes, int heads, Scheme scheme) {
    if (heads < 0) {
      throw new IllegalArgumentException("heads must be > 0 (or 0 for not given), got " + heads);
    }
    requirePacked(sources, shapes);
    Map<String, Shape> block = new LinkedHashMap<>();
    Map<String, String> labels = new LinkedHashMap<>();
    sources.forEach(
        (name, source) -> {
          block.put(name, source.shape(shapes.get(source.name())));
          labels.put(name, source.renames(name) ? name + " (" + source.describe() + ")" : name);
        });
    if (scheme == Scheme.SEED) {
      return seed(block, labels, heads);
    }
    if (heads == 0) {
      throw new IllegalArgumentException(
          "the number of heads must be given for a multi-head state dict ("
              + scheme.label()
              + " names); it is not stored in it");
    }
    return multiHead(block, labels, heads);
  }

  /**
   * Checks that a packed weight holds three square matrices: {@code in_proj_weight} (3E, E) = [W_q;
   * W_k; W_v], GPT-2's {@code c_attn.weight} (E, 3E) = [W_q | W_k | W_v].
   */
  private static void requirePacked(Map<String, Source> sources, Map<String, Shape> shapes) {
    Source query = sources.get("q_proj.weight");
    if (query == null || query.parts() != 3) {
      return;
    }
    Shape packed = shapes.get(query.name());
    if (packed.dimension() != 2) {
      throw new IllegalArgumentException(query.name() + " must be a matrix, got shape " + packed);
    }
    int other = 1 - query.axis();
    long[] dims = packed.getShape().clone();
    dims[query.axis()] = 3 * packed.get(other);
    if (!packed.equals(new Shape(dims))) {
      throw new IllegalArgumentException(
          query.name()
              + " has shape "
              + packed
              + ", expected "
              + new Shape(dims)
              + (query.axis() == 0 ? ": [W_q; W_k; W_v]" : ": [W_q | W_k | W_v]")
              + " of (E, E) each");
    }
  }

  private static BlockLayout seed(
      Map<String, Shape> shapes, Map<String, String> labels, int heads) {
    if (heads > 1) {
      throw new IllegalArgumentException(
          "the seed module (W_q.weight, ...) has one head, but heads " + heads + " was given");
    }
    Shape wq = matrix(shapes, labels, "W_q.weight");
    long headSize = wq.get(0);
    long embedding = wq.get(1);
    for (String prefix : List.of("W_k", "W_v")) {
      expect(shapes, labels, prefix + ".weight", headSize, embedding);
    }
    boolean bias = shapes.containsKey("W_q.bias");
    if (bias) {
      for (String prefix : List.of("W_q", "W_k", "W_v")) {
        expect(shapes, labels, prefix + ".bias", headSize);
      }
    }
    return new BlockLayout(true, embedding, embedding, embedding, 1, 1, headSize, bias, false);
  }

  private static BlockLayout multiHead(
      Map<String, Shape> shapes, Map<String, String> labels, int heads) {
    boolean outputProjection = shapes.containsKey("out_proj.weight");
    Shape wq = matrix(shapes, labels, "q_proj.weight");
    long embedding = wq.get(1);
    if (wq.get(0) != embedding) {
      throw new IllegalArgumentException(
          label(labels, "q_proj.weight")
              + " has shape "
              + wq
              + ", expected (E, E): the block's heads have size E / heads");
    }
    if (embedding % heads != 0) {
      throw new IllegalArgumentException(
          "embedding size "
              + embedding
              + " ("
              + label(labels, "q_proj.weight")
              + " "
              + wq
              + ") is not a multiple of heads "
              + heads);
    }
    long headSize = embedding / heads;
    Shape wk = matrix(shapes, labels, "k_proj.weight");
    Shape wv = matrix(shapes, labels, "v_proj.weight");
    long kvRows = wk.get(0);
    if (kvRows % headSize != 0
        || kvRows == 0
        || heads % (kvRows / headSize) != 0
        || wv.get(0) != kvRows) {
      throw new IllegalArgumentException(
          label(labels, "k_proj.weight")
              + " "
              + wk
              + " and "
              + label(labels, "v_proj.weight")
              + " "
              + wv
              + " must both have G·D rows, with head size D = "
              + headSize
              + " and G dividing heads "
              + heads);
    }
    int kvHeads = (int) (kvRows / headSize);
    if (outputProjection) {
      expect(shapes, labels, "out_proj.weight", embedding, embedding);
    }
    boolean bias = shapes.containsKey("q_proj.bias");
    if (bias) {
      expect(shapes, labels, "q_proj.bias", embedding);
      expect(shapes, labels, "k_proj.bias", kvRows);
      expect(shapes, labels, "v_proj.bias", kvRows);
      if (outputProjection) {
        expect(shapes, labels, "out_proj.bias", embedding);
      }
    }
    return new BlockLayout(
        false, embedding, wk.get(1), wv.get(1), heads, kvHeads, headSize, bias, outputProjection);
  }

  private static String label(Map<String, String> labels, String name) {
    return labels.getOrDefault(name, name);
  }

  private static Shape matrix(Map<String, Shape> shapes, Map<String, String> labels, String name) {
    Shape shape = shapes.get(name);
    if (shape.dimension() != 2) {
      throw new IllegalArgumentException(
          label(labels, name) + " must be a matrix (out, in), got shape " + shape);
    }
    return shape;
  }

  private static void expect(
      Map<String, Shape> shapes, Map<String, String> labels, String name, long... dims) {
    Shape shape = shapes.get(name);
    if (!shape.equals(new Shape(dims))) {
      throw new IllegalArgumentException(
          label(labels, name)
              + " has shape "
              + shape
              + ", expected "
              + new Shape(dims)
              + " from the other parameters");
    }
  }

  // ---- writing into a block ----

  private static Map<String, Shape> shapes(Map<String, NDArray> arrays) {
    Map<String, Shape> shapes = new LinkedHashMap<>();
    arrays.forEach((name, array) -> shapes.put(name, array.getShape()));
    return shapes;
  }

  /** Checks every parameter against the block, then writes them all. */
  private static void write(
      AttentionBlock block, Map<String, NDArray> checkpoint, Map<String, Source> sources) {
    BlockLayout layout = block.getLayout();
    Map<String, Shape> expected = layout.parameterShapes();
    expected.keySet().forEach(name -> BlockParameters.get(block, name)); // initialized?
    Map<String, Shape> shapes = shapes(checkpoint);
    requirePacked(sources, shapes);
    List<String> problems = new ArrayList<>();
    Map<String, Shape> given = new LinkedHashMap<>();
    for (Map.Entry<String, Source> entry : sources.entrySet()) {
      String name = entry.getKey();
      Source source = entry.getValue();
      Shape shape = source.shape(shapes.get(source.name()));
      given.put(name, shape);
      String from = source.renames(name) ? " (" + source.describe() + ")" : "";
      if (!expected.containsKey(name)) {
        problems.add(name + from + " " + shape + " is in the checkpoint, the block has no " + name);
      } else if (!expected.get(name).equals(shape)) {
        problems.add(
            name
                + from
                + " is "
                + shape
                + " in the checkpoint, the block's is "
                + expected.get(name));
      }
    }
    for (Map.Entry<String, Shape> entry : expected.entrySet()) {
      if (!sources.containsKey(entry.getKey())) {
        problems.add(
            "the block's " + entry.getKey() + " " + entry.getValue() + " is not in the checkpoint");
      }
    }
    if (!problems.isEmpty()) {
      throw new IllegalArgumentException(
          "the checkpoint does not fit "
              + block
              + ": "
              + String.join("; ", problems)
              + describeCheckpoint(given, layout));
    }
    Set<NDArray> callers = Collections.newSetFromMap(new IdentityHashMap<>());
    callers.addAll(checkpoint.values());
    NDArray first = BlockParameters.get(block, expected.keySet().iterator().next());
    try (NDManager scope = first.getManager().newSubManager()) {
      for (Map.Entry<String, Source> entry : sources.entrySet()) {
        String name = entry.getKey();
        NDArray target = BlockParameters.get(block, name);
        NDArray value =
            scoped(
                entry.getValue().take(checkpoint.get(entry.getValue().name())),
                callers,
                scope); // a slice or transpose of the caller's array, or the array itself
        value = scoped(value.toType(target.getDataType(), false), callers, scope);
        BlockParameters.set(block, name, value);
      }
    }
  }

  /** Attaches a new array to the scope; leaves the caller's arrays alone. */
  private static NDArray scoped(NDArray array, Set<NDArray> callers, NDManager scope) {
    if (!callers.contains(array)) {
      array.attach(scope);
    }
    return array;
  }

  /** ", the checkpoint is for H=.., G=.., ..." when the checkpoint's own layout can be told. */
  private static String describeCheckpoint(Map<String, Shape> given, BlockLayout block) {
    BlockLayout checkpoint;
    try {
      checkpoint =
          given.containsKey("W_q.weight")
              ? seed(given, Map.of(), 0)
              : multiHead(given, Map.of(), block.heads());
    } catch (IllegalArgumentException e) {
      return ""; // the checkpoint fits no block: the shapes above say enough
    }
    List<String> differences = new ArrayList<>();
    differ(differences, "embedding size", checkpoint.embeddingSize(), block.embeddingSize());
    differ(differences, "key size", checkpoint.keySize(), block.keySize());
    differ(differences, "value size", checkpoint.valueSize(), block.valueSize());
    differ(differences, "kv heads", checkpoint.kvHeads(), block.kvHeads());
    differ(differences, "head size", checkpoint.headSize(), block.headSize());
    if (checkpoint.bias() != block.bias()) {
      differences.add(checkpoint.bias() ? "biases (the block has none)" : "no biases");
    }
    if (checkpoint.outputProjection() != block.outputProjection()) {
      differences.add(
          checkpoint.outputProjection() ? "an output projection" : "no output projection");
    }
    return differences.isEmpty() ? "" : "; the checkpoint has " + String.join(", ", differences);
  }

  private static void differ(List<String> out, String what, long checkpoint, long block) {
    if (checkpoint != block) {
      out.add(what + " " + checkpoint + " where the block has " + block);
    }
  }
}
