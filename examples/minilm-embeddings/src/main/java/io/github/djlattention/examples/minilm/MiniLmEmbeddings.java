package io.github.djlattention.examples.minilm;

import ai.djl.MalformedModelException;
import ai.djl.Model;
import ai.djl.huggingface.tokenizers.Encoding;
import ai.djl.huggingface.tokenizers.HuggingFaceTokenizer;
import ai.djl.inference.Predictor;
import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDList;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.DataType;
import ai.djl.ndarray.types.Shape;
import ai.djl.nn.Block;
import ai.djl.nn.Parameter;
import ai.djl.translate.NoopTranslator;
import ai.djl.translate.TranslateException;
import io.github.djlattention.ort.OrtRunner;
import java.io.IOException;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Locale;
import java.util.Map;

/**
 * Sentence embeddings of all-MiniLM-L6-v2 computed entirely in DJL, and the same embeddings from
 * ONNX Runtime on the original model, compared.
 *
 * <p>The encoder is a {@link BertEncoder}: the project's {@code MultiHeadAttentionBlock} and DJL's
 * own {@code Linear}, {@code LayerNorm} and GELU, with the weights read from the model's ONNX file
 * ({@link OnnxWeights}). DJL's Hugging Face tokenizer turns sentences into a padded batch; mean
 * pooling over the tokens (not the padding) and L2 normalization turn the last hidden state into
 * embeddings, as sentence-transformers does.
 *
 * <p>Usage: {@code MiniLmEmbeddings MODEL.onnx TOKENIZER.json [TIMING_RUNS]}. Exits 1 when an
 * embedding differs from ONNX Runtime's by more than the bounds (cosine below 0.99999 or an element
 * more than 1e-5 away). With TIMING_RUNS above 0 it then times a batch of 1 and of 32 sentences
 * padded to 128 tokens on both: at batch 32 the median of that many runs after 2 warm-up runs, at
 * batch 1 (20 times cheaper) the median of 7 times as many after 50. One warm-up run was not enough
 * at batch 1: DJL's Java side was still being compiled, and the median of 3 read 24 to 27 ms where
 * a warmed-up forward takes 13 to 16.
 */
public final class MiniLmEmbeddings {

  /** all-MiniLM-L6-v2's configuration (its config.json): 12 heads of 32, GELU, LayerNorm 1e-12. */
  private static final int HEADS = 12;

  private static final float EPSILON = 1e-12f;
  private static final double MIN_COSINE = 0.99999;
  private static final double MAX_ABS = 1e-5;
  private static final int TIMING_LENGTH = 128;

  static final String[] SENTENCES = {
    "The cat sits on the mat.",
    "A dog is playing in the park.",
    "Attention is all you need.",
    "Java runs on billions of devices.",
    "Self-attention compares every token with every other token.",
    "The weather is lovely today.",
    "She sold seashells by the seashore.",
    "Deep Java Library brings deep learning to the JVM.",
    "ONNX Runtime executes models exported from many frameworks.",
    "Two frameworks should compute the same numbers.",
    "How far is the nearest train station?",
    "I would like a cup of coffee, please.",
    "The quick brown fox jumps over the lazy dog.",
    "Softmax turns scores into weights that sum to one.",
    "Keys and values come from the same sequence here.",
    "Padding tokens must not change the embedding of a sentence.",
    "A sentence embedding maps text to a vector.",
    "Cosine similarity measures the angle between two vectors.",
    "Mount Everest is the highest mountain on Earth.",
    "Bananas are yellow when they are ripe.",
    "The library was closed on Sunday.",
    "Matrix multiplication dominates the cost of a transformer.",
    "He played the violin at the concert last night.",
    "Rain is expected later this week.",
    "Short.",
    "A much longer sentence, with several clauses, commas, and a few rarer words such as"
        + " quaternion, photosynthesis and archipelago, to make the batch uneven.",
    "Numbers like 3.14159 and 2026 are tokenized too.",
    "Is this the real life, or is this just fantasy?",
    "The meeting has been moved to Thursday afternoon.",
    "Trains leave every fifteen minutes.",
    "Graphs of operators describe the computation.",
    "Every layer has twelve attention heads of thirty-two dimensions.",
  };

  private MiniLmEmbeddings() {}

  /**
   * Computes, compares and times.
   *
   * @param args model, tokenizer, optional timing runs
   */
  public static void main(String[] args)
      throws IOException, TranslateException, MalformedModelException {
    if (args.length < 2) {
      System.err.println("usage: MiniLmEmbeddings MODEL.onnx TOKENIZER.json [TIMING_RUNS]");
      System.exit(2);
    }
    Path modelFile = Path.of(args[0]);
    Path tokenizerFile = Path.of(args[1]);
    int timingRuns = args.length > 2 ? Integer.parseInt(args[2]) : 0;

    try (NDManager manager = NDManager.newBaseManager("PyTorch");
        Model model = Model.newInstance("all-minilm-l6-v2", "PyTorch");
        OrtRunner ort = OrtRunner.builder().build(modelFile);
        HuggingFaceTokenizer tokenizer =
            HuggingFaceTokenizer.builder()
                .optTokenizerPath(tokenizerFile)
                .optPadding(true)
                .optTruncation(true)
                .optMaxLength(TIMING_LENGTH)
                .build()) {
      model.setBlock(load(modelFile, model.getNDManager()));

      Batch batch = Batch.of(tokenizer.batchEncode(SENTENCES), manager);
      try (Predictor<NDList, NDList> predictor = model.newPredictor(new NoopTranslator())) {
        int modelArrays = model.getNDManager().getManagedArrays().size();
        float[][] djl = embeddings(predictor.predict(batch.inputs()).get(0), batch.mask());
        int leftInModel = model.getNDManager().getManagedArrays().size() - modelArrays;
        if (leftInModel != 0) {
          // the model's manager lives as long as the model: an array left there is never freed
          System.err.printf(
              Locale.ROOT,
              "MiniLmEmbeddings: a forward call left %d arrays in the model's manager%n",
              leftInModel);
          System.exit(1);
        }
        float[][] onnx =
            embeddings(ort.run(batch.named(), manager).get("last_hidden_state"), batch.mask());
        double minCosine = 1;
        double maxAbs = 0;
        for (int i = 0; i < djl.length; i++) {
          minCosine = Math.min(minCosine, dot(djl[i], onnx[i]));
          for (int j = 0; j < djl[i].length; j++) {
            maxAbs = Math.max(maxAbs, Math.abs(djl[i][j] - onnx[i][j]));
          }
        }
        System.out.printf(
            Locale.ROOT,
            "all-MiniLM-L6-v2: %d sentences (batch padded to %d tokens), %d-dimensional embeddings%n"
                + "DJL (project blocks) vs ONNX Runtime: min cosine %.8f, max abs %.2e%n",
            djl.length,
            batch.length(),
            djl[0].length,
            minCosine,
            maxAbs);
        if (!(minCosine >= MIN_COSINE && maxAbs <= MAX_ABS)) {
          System.err.printf(
              Locale.ROOT,
              "MiniLmEmbeddings: the embeddings differ: min cosine %.8f (bound %.5f), max abs %.2e"
                  + " (bound %.0e)%n",
              minCosine,
              MIN_COSINE,
              maxAbs,
              MAX_ABS);
          System.exit(1);
        }
        if (timingRuns > 0) {
          try (HuggingFaceTokenizer fixed =
              HuggingFaceTokenizer.builder()
                  .optTokenizerPath(tokenizerFile)
                  .optPadToMaxLength()
                  .optTruncation(true)
                  .optMaxLength(TIMING_LENGTH)
                  .build()) {
            for (int size : new int[] {1, 32}) {
              time(size, timingRuns, fixed, predictor, ort, manager);
            }
          }
        }
      }
    }
  }

  /** Builds the encoder and copies the ONNX file's weights into it. */
  static BertEncoder load(Path modelFile, NDManager manager) throws IOException {
    Map<String, NDArray> weights = OnnxWeights.read(modelFile, manager);
    int layers = 0;
    while (weights.containsKey("encoder.layer." + layers + ".attention.self.query.weight")) {
      layers++;
    }
    Shape words = weights.get("embeddings.word_embeddings.weight").getShape();
    long embedding = words.get(1);
    BertEncoder encoder =
        new BertEncoder(
            words.get(0),
            weights.get("embeddings.position_embeddings.weight").getShape().get(0),
            weights.get("embeddings.token_type_embeddings.weight").getShape().get(0),
            embedding,
            layers,
            HEADS,
            weights.get("encoder.layer.0.intermediate.dense.weight").getShape().get(0),
            EPSILON);
    encoder.initialize(
        manager, DataType.FLOAT32, new Shape(1, 8), new Shape(1, 8), new Shape(1, 8));
    Copier copy = new Copier(weights);
    copy.into(encoder.wordEmbeddings(), "embeddings.word_embeddings.weight");
    copy.into(encoder.positionEmbeddings(), "embeddings.position_embeddings.weight");
    copy.into(encoder.tokenTypeEmbeddings(), "embeddings.token_type_embeddings.weight");
    copy.norm(encoder.embeddingNorm(), "embeddings.LayerNorm");
    for (int i = 0; i < layers; i++) {
      BertLayer layer = encoder.layers().get(i);
      String prefix = "encoder.layer." + i + ".";
      Block attention = layer.attention();
      copy.linear(attention, "q_proj.", prefix + "attention.self.query");
      copy.linear(attention, "k_proj.", prefix + "attention.self.key");
      copy.linear(attention, "v_proj.", prefix + "attention.self.value");
      copy.linear(attention, "out_proj.", prefix + "attention.output.dense");
      copy.norm(layer.attentionNorm(), prefix + "attention.output.LayerNorm");
      copy.linear(layer.intermediate(), "", prefix + "intermediate.dense");
      copy.linear(layer.output(), "", prefix + "output.dense");
      copy.norm(layer.outputNorm(), prefix + "output.LayerNorm");
    }
    copy.requireAllUsed();
    for (NDArray array : weights.values()) {
      array.close();
    }
    return encoder;
  }

  /** Copies named arrays into parameters, checking shapes, and remembers which it used. */
  private static final class Copier {
    private final Map<String, NDArray> weights;
    private final List<String> used = new ArrayList<>();

    Copier(Map<String, NDArray> weights) {
      this.weights = weights;
    }

    void into(Parameter parameter, String name) {
      NDArray source = weights.get(name);
      if (source == null) {
        throw new IllegalArgumentException("the model has no " + name);
      }
      NDArray target = parameter.getArray();
      if (!target.getShape().equals(source.getShape())) {
        throw new IllegalArgumentException(
            name
                + " is "
                + source.getShape()
                + " but "
                + parameter.getName()
                + " is "
                + target.getShape());
      }
      target.set(source.toType(DataType.FLOAT32, false).toFloatArray());
      used.add(name);
    }

    void linear(Block block, String prefix, String module) {
      into(block.getParameters().get(prefix + "weight"), module + ".weight");
      into(block.getParameters().get(prefix + "bias"), module + ".bias");
    }

    void norm(Block block, String module) {
      into(block.getParameters().get("gamma"), module + ".weight");
      into(block.getParameters().get("beta"), module + ".bias");
    }

    void requireAllUsed() {
      List<String> left = new ArrayList<>(weights.keySet());
      left.removeAll(used);
      left.remove("embeddings.position_ids"); // the positions 0..511, computed instead
      if (!left.isEmpty()) {
        throw new IllegalArgumentException("weights the encoder does not use: " + left);
      }
    }
  }

  /** A tokenized batch: ids, attention mask and token types, int64 (B, S). */
  private record Batch(NDArray ids, NDArray mask, NDArray types) {
    static Batch of(Encoding[] encodings, NDManager manager) {
      int rows = encodings.length;
      int length = encodings[0].getIds().length;
      long[] ids = new long[rows * length];
      long[] mask = new long[rows * length];
      long[] types = new long[rows * length];
      for (int r = 0; r < rows; r++) {
        System.arraycopy(encodings[r].getIds(), 0, ids, r * length, length);
        System.arraycopy(encodings[r].getAttentionMask(), 0, mask, r * length, length);
        System.arraycopy(encodings[r].getTypeIds(), 0, types, r * length, length);
      }
      Shape shape = new Shape(rows, length);
      return new Batch(
          manager.create(ids, shape), manager.create(mask, shape), manager.create(types, shape));
    }

    long length() {
      return ids.getShape().get(1);
    }

    NDList inputs() {
      return new NDList(ids, mask, types);
    }

    Map<String, NDArray> named() {
      return Map.of("input_ids", ids, "attention_mask", mask, "token_type_ids", types);
    }
  }

  /** Mean over the tokens (not the padding), then L2 normalization: (B, E). */
  static float[][] embeddings(NDArray hidden, NDArray mask) {
    NDArray weights = mask.toType(DataType.FLOAT32, false).expandDims(2); // (B, S, 1)
    NDArray mean = hidden.mul(weights).sum(new int[] {1}).div(weights.sum(new int[] {1}));
    NDArray norm = mean.norm(new int[] {1}, true).maximum(1e-12f);
    NDArray unit = mean.div(norm);
    long rows = unit.getShape().get(0);
    int columns = (int) unit.getShape().get(1);
    float[] flat = unit.toFloatArray();
    float[][] out = new float[(int) rows][];
    for (int r = 0; r < rows; r++) {
      out[r] = Arrays.copyOfRange(flat, r * columns, (r + 1) * columns);
    }
    return out;
  }

  private static double dot(float[] a, float[] b) {
    double sum = 0;
    for (int i = 0; i < a.length; i++) {
      sum += (double) a[i] * b[i];
    }
    return sum;
  }

  /** Times one batch size on both runtimes: the median of the runs, after the warm-up runs. */
  private static void time(
      int size,
      int runs,
      HuggingFaceTokenizer tokenizer,
      Predictor<NDList, NDList> predictor,
      OrtRunner ort,
      NDManager manager)
      throws TranslateException {
    String[] sentences = new String[size];
    for (int i = 0; i < size; i++) {
      sentences[i] = SENTENCES[i % SENTENCES.length];
    }
    Encoding[] encodings = tokenizer.batchEncode(sentences);
    long length = encodings[0].getIds().length;
    // a batch of 1 is 20 times cheaper: more runs, and warm-up enough for the JIT to finish
    int warmUp = size == 1 ? 50 : 2;
    int timed = size == 1 ? 7 * runs : runs;
    double[] djl = new double[timed];
    double[] onnx = new double[timed];
    for (int run = -warmUp; run < timed; run++) {
      // each call's inputs, and so every array of its forward, in a manager closed after it
      long djlStart;
      try (NDManager call = manager.newSubManager()) {
        Batch batch = Batch.of(encodings, call);
        djlStart = System.nanoTime();
        predictor.predict(batch.inputs()).get(0).toFloatArray();
      }
      long djlEnd = System.nanoTime();
      long ortStart;
      try (NDManager call = manager.newSubManager()) {
        Batch batch = Batch.of(encodings, call);
        ortStart = System.nanoTime();
        ort.run(batch.named(), call).get("last_hidden_state").toFloatArray();
      }
      long ortEnd = System.nanoTime();
      if (run >= 0) {
        djl[run] = (djlEnd - djlStart) / 1e6;
        onnx[run] = (ortEnd - ortStart) / 1e6;
      }
    }
    double djlMedian = median(djl);
    double onnxMedian = median(onnx);
    System.out.printf(
        Locale.ROOT,
        "batch %2d x %d tokens: DJL %.1f ms, ONNX Runtime %.1f ms per batch (DJL/ORT %.2f;"
            + " median of %d after %d warm-up runs, one process, interleaved)%n",
        size,
        length,
        djlMedian,
        onnxMedian,
        djlMedian / onnxMedian,
        timed,
        warmUp);
  }

  private static double median(double[] values) {
    double[] sorted = values.clone();
    Arrays.sort(sorted);
    int n = sorted.length;
    return n % 2 == 1 ? sorted[n / 2] : (sorted[n / 2 - 1] + sorted[n / 2]) / 2;
  }
}
