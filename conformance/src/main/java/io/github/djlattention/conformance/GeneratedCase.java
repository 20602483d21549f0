package io.github.djlattention.conformance;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDList;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.DataType;
import ai.djl.ndarray.types.Shape;
import ai.djl.nn.AbstractBlock;
import io.github.djlattention.blocks.AttentionWeights;
import io.github.djlattention.blocks.BlockParameters;
import io.github.djlattention.blocks.MultiHeadAttentionBlock;
import io.github.djlattention.blocks.SelfAttentionBlock;
import io.github.djlattention.compare.Tolerance;
import io.github.djlattention.compare.Tolerances;
import io.github.djlattention.onnx.ExportOptions;
import io.github.djlattention.reference.ReferenceAttention;
import io.github.djlattention.reference.ReferenceAttention.Tensor;
import java.util.Arrays;
import java.util.LinkedHashMap;
import java.util.Map;
import java.util.Optional;

/**
 * One case of the {@code generated} suite (a line of {@code conformance/generated/cases.json}) with
 * its tensors drawn from its seed.
 *
 * <p>Legend: B batch, H query heads, G key/value heads, S query length, T key length, D head size,
 * Dv value head size, E embedding, Ek/Ev key/value features.
 *
 * <p>Three kinds:
 *
 * <ul>
 *   <li>{@link Kind#FUNCTIONAL}: query (B, H, S, D), key (B, G, T, D), value (B, G, T, Dv) given
 *       directly (rank 3 drops H, rank 2 also B), with an optional mask broadcast by NumPy's rules,
 *       causal flag, scale and softcap. The blocks run it as B·H single-head sequences with
 *       identity projections (the scale folded into the query's), when there is no softcap and Dv =
 *       D.
 *   <li>{@link Kind#MHA_BLOCK}: a {@link MultiHeadAttentionBlock} with seeded parameters on {@code
 *       x} (B, S, E) or query (B, S, E), key (B, T, Ek), value (B, T, Ev); mask of rank 2 (S, T), 3
 *       (B, S, T) or 4 (B, H, S, T).
 *   <li>{@link Kind#SELF_BLOCK}: the seed's single-head {@link SelfAttentionBlock} on x (B, S, E);
 *       mask (S, S) or (B, S, S).
 * </ul>
 *
 * <p>The oracle is {@link ReferenceAttention} in float64, after the projections computed in float64
 * for the block kinds; outputs are {@code output} and {@code weights} (per head for functional
 * cases, averaged over heads for blocks). Tolerances follow the case's element type.
 *
 * @param name the case name
 * @param group the report group
 * @param kind functional or a block
 * @param type the element type of inputs and parameters
 * @param seed the seed the tensors were drawn from
 * @param batch B
 * @param heads H
 * @param kvHeads G
 * @param queryLength S
 * @param keyLength T
 * @param headSize D
 * @param valueHeadSize Dv
 * @param rank the rank of a functional case's tensors (2 to 4); 3 for blocks
 * @param embed E (blocks)
 * @param keySize Ek (blocks)
 * @param valueSize Ev (blocks)
 * @param cross whether a multi-head block gets query, key and value rather than one x
 * @param bias whether the block's projections have biases
 * @param causal whether query i sees only keys j ≤ i
 * @param scale the score factor, or null for 1/√D
 * @param softcap the softcap, or null for none
 * @param tensors inputs ({@code query}, {@code key}, {@code value} or {@code x}) and parameters by
 *     PyTorch name, as float64 values exactly representable in {@code type}
 * @param mask the mask, or null
 */
public record GeneratedCase(
    String name,
    String group,
    Kind kind,
    DataType type,
    long seed,
    int batch,
    int heads,
    int kvHeads,
    int queryLength,
    int keyLength,
    int headSize,
    int valueHeadSize,
    int rank,
    int embed,
    int keySize,
    int valueSize,
    boolean cross,
    boolean bias,
    boolean causal,
    Double scale,
    Double softcap,
    Map<String, Tensor> tensors,
    GeneratedMask mask)
    implements BlockCase {

  /** What the case feeds. */
  public enum Kind {
    /** Query, key and value given to the functional API. */
    FUNCTIONAL,
    /** A {@link MultiHeadAttentionBlock}. */
    MHA_BLOCK,
    /** The seed's {@link SelfAttentionBlock}. */
    SELF_BLOCK
  }

  /**
   * Copies the tensor map.
   *
   * @throws IllegalArgumentException if a required field is null
   */
  public GeneratedCase {
    if (name == null || group == null || kind == null || type == null || tensors == null) {
      throw new IllegalArgumentException("generated case fields must not be null");
    }
    tensors = Map.copyOf(tensors);
  }

  @Override
  public String dataType() {
    return type.toString();
  }

  /** Tolerances follow the case's element type, not the float64 oracle's. */
  @Override
  public Tolerance tolerance(String output, NDArray expected) {
    return Tolerances.forType(type);
  }

  /**
   * An input or parameter.
   *
   * @param key e.g. {@code query} or {@code q_proj.weight}
   * @return the tensor
   * @throws IllegalArgumentException if the case has none of that name
   */
  public Tensor tensor(String key) {
    Tensor t = tensors.get(key);
    if (t == null) {
      throw new IllegalArgumentException(
          name + " has no tensor '" + key + "'; it has " + tensors.keySet());
    }
    return t;
  }

  /**
   * The mask, if any.
   *
   * @return the mask
   */
  public Optional<GeneratedMask> optMask() {
    return Optional.ofNullable(mask);
  }

  // ---- the oracle ----------------------------------------------------------------------------

  @Override
  public CaseOutputs expected(NDManager manager) {
    Tensor output;
    Tensor weights;
    if (kind == Kind.FUNCTIONAL) {
      ReferenceAttention.Result r =
          ReferenceAttention.attention(
              as4d(tensor("query")), as4d(tensor("key")), as4d(tensor("value")), options());
      output = DoubleTensors.reshape(r.output(), outputShape());
      weights = DoubleTensors.reshape(r.weights(), weightsShape());
    } else {
      Tensor query =
          DoubleTensors.linear(blockInput("query"), tensor(prefix("q") + ".weight"), bias("q"));
      Tensor key =
          DoubleTensors.linear(blockInput("key"), tensor(prefix("k") + ".weight"), bias("k"));
      Tensor value =
          DoubleTensors.linear(blockInput("value"), tensor(prefix("v") + ".weight"), bias("v"));
      int h = kind == Kind.SELF_BLOCK ? 1 : heads;
      int g = kind == Kind.SELF_BLOCK ? 1 : kvHeads;
      ReferenceAttention.Result r =
          ReferenceAttention.attention(
              DoubleTensors.splitHeads(query, h), // (B, H, S, D)
              DoubleTensors.splitHeads(key, g), // (B, G, T, D)
              DoubleTensors.splitHeads(value, g), // (B, G, T, D)
              options());
      output = DoubleTensors.mergeHeads(r.output()); // (B, S, H·D)
      if (kind == Kind.MHA_BLOCK) {
        output = DoubleTensors.linear(output, tensor("out_proj.weight"), bias("out")); // (B, S, E)
      }
      weights = DoubleTensors.meanOverHeads(r.weights()); // (B, S, T)
    }
    NDArray out = manager.create(output.data(), toShape(output.shape())); // float64
    NDArray w = manager.create(weights.data(), toShape(weights.shape())); // float64
    Map<String, NDArray> outputs = new LinkedHashMap<>();
    outputs.put("output", out);
    outputs.put("weights", w);
    return new CaseOutputs(outputs, Optional.of(w));
  }

  private ReferenceAttention.Options options() {
    Tensor additive = mask == null ? null : mask.reference(mask4d());
    return new ReferenceAttention.Options(additive, causal, scale, softcap);
  }

  /** The mask's shape on the reference's four axes (B, H, S, T). */
  int[] mask4d() {
    int[] s = mask.shape();
    if (kind != Kind.FUNCTIONAL) {
      switch (s.length) {
        case 2:
          return new int[] {1, 1, s[0], s[1]}; // (S, T)
        case 3:
          return new int[] {s[0], 1, s[1], s[2]}; // (B, S, T)
        default:
          return s; // (B, H, S, T)
      }
    }
    // NumPy's rule against the weights of the case's rank, then that rank's axes on four.
    int[] aligned = new int[rank];
    Arrays.fill(aligned, 1);
    System.arraycopy(s, 0, aligned, rank - s.length, s.length);
    switch (rank) {
      case 2:
        return new int[] {1, 1, aligned[0], aligned[1]};
      case 3:
        return new int[] {aligned[0], 1, aligned[1], aligned[2]};
      default:
        return aligned;
    }
  }

  /** A functional case's rank-2 (S, D) or rank-3 (B, S, D) tensor on four axes (B, H, S, D). */
  static Tensor as4d(Tensor t) {
    int[] s = t.shape();
    switch (s.length) {
      case 2:
        return DoubleTensors.reshape(t, 1, 1, s[0], s[1]);
      case 3:
        return DoubleTensors.reshape(t, s[0], 1, s[1], s[2]);
      default:
        return t;
    }
  }

  /** The output's shape at the case's rank. */
  int[] outputShape() {
    return atRank(valueHeadSize);
  }

  /** The per-head weights' shape at the case's rank. */
  int[] weightsShape() {
    return atRank(keyLength);
  }

  private int[] atRank(int last) {
    switch (rank) {
      case 2:
        return new int[] {queryLength, last};
      case 3:
        return new int[] {batch, queryLength, last};
      default:
        return new int[] {batch, heads, queryLength, last};
    }
  }

  private Tensor blockInput(String role) {
    return tensors.containsKey("x") ? tensor("x") : tensor(role);
  }

  private String prefix(String role) {
    return kind == Kind.SELF_BLOCK ? "W_" + role : role + "_proj";
  }

  private Tensor bias(String role) {
    return bias ? tensor(prefix(role) + ".bias") : null;
  }

  // ---- the blocks and their exports ----------------------------------------------------------

  @Override
  public Optional<String> blockUnsupported() {
    if (type == DataType.FLOAT16) {
      return Optional.of("float16 blocks are not run");
    }
    if (kind != Kind.FUNCTIONAL) {
      return Optional.empty();
    }
    if (softcap != null) {
      return Optional.of("the blocks have no softcap");
    }
    if (valueHeadSize != headSize) {
      return Optional.of(
          "value head size " + valueHeadSize + " differs from head size " + headSize);
    }
    return Optional.empty();
  }

  @Override
  public AbstractBlock block(NDManager manager) {
    AbstractBlock block;
    Map<String, Tensor> parameters = new LinkedHashMap<>();
    switch (kind) {
      case SELF_BLOCK:
        block =
            SelfAttentionBlock.builder()
                .setEmbeddingSize(embed)
                .optHeadSize(headSize)
                .optBias(bias)
                .optCausal(causal)
                .optAttentionWeights(AttentionWeights.AVERAGED)
                .build();
        block.initialize(manager, type, new Shape(1, queryLength, embed));
        tensors.forEach(
            (key, t) -> {
              if (key.startsWith("W_")) {
                parameters.put(key, t);
              }
            });
        break;
      case MHA_BLOCK:
        block =
            MultiHeadAttentionBlock.builder()
                .setEmbeddingSize(embed)
                .setHeads(heads)
                .optKvHeads(kvHeads)
                .optKeySize(keySize)
                .optValueSize(valueSize)
                .optBias(bias)
                .optCausal(causal)
                .optAttentionWeights(AttentionWeights.AVERAGED)
                .build();
        block.initialize(
            manager,
            type,
            new Shape(1, queryLength, embed),
            new Shape(1, keyLength, keySize),
            new Shape(1, keyLength, valueSize));
        tensors.forEach(
            (key, t) -> {
              if (key.contains("_proj.")) {
                parameters.put(key, t);
              }
            });
        break;
      default:
        // B·H sequences of one head; identity projections, the scale folded into the query's.
        block =
            MultiHeadAttentionBlock.builder()
                .setEmbeddingSize(headSize)
                .setHeads(1)
                .optBias(false)
                .optOutputProjection(false)
                .optCausal(causal)
                .optAttentionWeights(AttentionWeights.AVERAGED)
                .build();
        Shape query = new Shape(1, queryLength, headSize);
        Shape key = new Shape(1, keyLength, headSize);
        block.initialize(manager, type, query, key, key);
        double factor = scale == null ? 1 : scale * Math.sqrt(headSize);
        parameters.put("q_proj.weight", identity(headSize, factor));
        parameters.put("k_proj.weight", identity(headSize, 1));
        parameters.put("v_proj.weight", identity(headSize, 1));
        break;
    }
    for (Map.Entry<String, Tensor> p : parameters.entrySet()) {
      BlockParameters.set(block, p.getKey(), create(manager, p.getValue()));
    }
    return block;
  }

  private static Tensor identity(int size, double diagonal) {
    double[] data = new double[size * size];
    for (int i = 0; i < size; i++) {
      data[i * size + i] = diagonal;
    }
    return new Tensor(data, new int[] {size, size});
  }

  @Override
  public NDList blockInputs(NDManager manager) {
    NDList list = new NDList();
    if (tensors.containsKey("x")) {
      list.add(create(manager, tensor("x")));
    } else {
      onnxInputs(manager)
          .forEach(
              (key, array) -> {
                if (!key.equals("attn_mask")) {
                  list.add(array);
                }
              });
    }
    blockMask(manager).ifPresent(list::add);
    return list;
  }

  @Override
  public Map<String, NDArray> onnxInputs(NDManager manager) {
    Map<String, NDArray> inputs = new LinkedHashMap<>();
    if (kind == Kind.FUNCTIONAL) {
      Tensor query = as4d(tensor("query")); // (B, H, S, D)
      Tensor key = DoubleTensors.repeatHeads(as4d(tensor("key")), query.shape()[1]); // (B, H, T, D)
      Tensor value = DoubleTensors.repeatHeads(as4d(tensor("value")), query.shape()[1]);
      inputs.put("query", create(manager, sequences(query))); // (B·H, S, D)
      inputs.put("key", create(manager, sequences(key))); // (B·H, T, D)
      inputs.put("value", create(manager, sequences(value))); // (B·H, T, D)
    } else if (kind == Kind.SELF_BLOCK) {
      inputs.put("x", create(manager, tensor("x")));
    } else {
      for (String role : new String[] {"query", "key", "value"}) {
        inputs.put(role, create(manager, blockInput(role)));
      }
    }
    blockMask(manager).ifPresent(m -> inputs.put("attn_mask", m));
    return inputs;
  }

  /** (B, H, L, D) as (B·H, L, D). */
  private static Tensor sequences(Tensor t) {
    int[] s = t.shape();
    return DoubleTensors.reshape(t, s[0] * s[1], s[2], s[3]);
  }

  /** The mask as the block and graph take it; for functional cases expanded to (B·H, S, T). */
  private Optional<NDArray> blockMask(NDManager manager) {
    if (mask == null) {
      return Optional.empty();
    }
    if (kind != Kind.FUNCTIONAL) {
      return Optional.of(mask.toNDArray(manager, type));
    }
    int[] full = {
      rank == 4 ? batch : rank == 3 ? batch : 1, rank == 4 ? heads : 1, queryLength, keyLength
    };
    int[] source = DoubleTensors.broadcastIndex(mask4d(), full);
    boolean[] keep = new boolean[source.length];
    double[] additive = new double[source.length];
    for (int n = 0; n < source.length; n++) {
      keep[n] = mask.keep()[source[n]];
      additive[n] = mask.additive()[source[n]];
    }
    GeneratedMask expanded =
        new GeneratedMask(
            mask.bool(), new int[] {full[0] * full[1], queryLength, keyLength}, keep, additive);
    return Optional.of(expanded.toNDArray(manager, type)); // (B·H, S, T)
  }

  @Override
  public ExportOptions exportOptions(int opset) {
    ExportOptions.Builder options = ExportOptions.builder().optOpset(opset);
    if (mask != null) {
      int maskRank = kind == Kind.FUNCTIONAL ? 3 : mask.shape().length;
      options.optMask(
          mask.bool() ? ExportOptions.MaskType.BOOL : ExportOptions.MaskType.FLOAT, maskRank);
    }
    return options.build();
  }

  @Override
  public CaseOutputs fromBlock(NDArray output, NDArray weights, NDManager manager) {
    NDArray out = output;
    NDArray w = weights;
    if (kind == Kind.FUNCTIONAL) {
      out = output.reshape(toShape(outputShape())); // (B·H, S, D) to the case's shape
      w = weights.reshape(toShape(weightsShape())); // (B·H, S, T) to the case's shape
    }
    out = out.toDevice(ai.djl.Device.cpu(), true);
    w = w.toDevice(ai.djl.Device.cpu(), true);
    out.attach(manager);
    w.attach(manager);
    Map<String, NDArray> outputs = new LinkedHashMap<>();
    outputs.put("output", out);
    outputs.put("weights", w);
    return new CaseOutputs(outputs, Optional.of(w));
  }

  /**
   * Creates an array of the case's element type.
   *
   * @param manager owns the array
   * @param t the values
   * @return the array
   */
  NDArray create(NDManager manager, Tensor t) {
    NDArray array = manager.create(t.data(), toShape(t.shape()));
    return type == DataType.FLOAT64 ? array : array.toType(type, false);
  }

  private static Shape toShape(int[] shape) {
    return new Shape(Arrays.stream(shape).asLongStream().toArray());
  }
}
