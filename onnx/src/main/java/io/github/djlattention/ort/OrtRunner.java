package io.github.djlattention.ort;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.DataType;
import ai.djl.ndarray.types.Shape;
import ai.onnxruntime.OnnxJavaType;
import ai.onnxruntime.OnnxTensor;
import ai.onnxruntime.OnnxValue;
import ai.onnxruntime.OrtEnvironment;
import ai.onnxruntime.OrtException;
import ai.onnxruntime.OrtLoggingLevel;
import ai.onnxruntime.OrtProvider;
import ai.onnxruntime.OrtSession;
import io.github.djlattention.io.ElementType;
import io.github.djlattention.io.InputLimits;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.Set;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.ScheduledExecutorService;
import java.util.concurrent.ScheduledFuture;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.TimeoutException;
import java.util.concurrent.atomic.AtomicBoolean;

/**
 * Runs an ONNX model on ONNX Runtime with DJL {@link NDArray}s as inputs and outputs.
 *
 * <p>Inputs go to ONNX Runtime as direct byte buffers taken from {@link
 * NDArray#toByteBuffer(boolean)} (float32, float64, float16, int32, int64, int8, uint8 and bool):
 * on the PyTorch engine a contiguous CPU array's memory is passed as it is, without a copy, and the
 * array must stay open until {@link #run} returns; other inputs (strided views, GPU arrays) go
 * through a contiguous CPU copy that is freed when {@link #run} returns. Outputs come back as
 * NDArrays in the caller's {@link NDManager}, in memory the engine owns. Every input tensor and
 * every {@code Result} is closed before {@link #run} returns.
 *
 * <p>A runner holds one {@code OrtSession}. ONNX Runtime sessions are safe for concurrent {@code
 * run} calls, so one runner may be shared across threads; {@link #close()} must not race with
 * {@code run}.
 *
 * <pre>{@code
 * try (OrtRunner runner = OrtRunner.builder().optDevice(OrtDevice.CPU).build(modelPath);
 *     NDManager manager = NDManager.newBaseManager()) {
 *   Map<String, NDArray> outputs = runner.run(Map.of("Q", q, "K", k, "V", v), manager);
 * }
 * }</pre>
 */
public final class OrtRunner implements AutoCloseable {

  /** The default limit on one model load and on one run: 600 s. */
  public static final Duration DEFAULT_TIMEOUT = Duration.ofSeconds(600);

  private static volatile Duration defaultTimeout = DEFAULT_TIMEOUT;

  /** Fires the run watchdogs; daemon, so it never keeps the JVM alive. */
  private static final ScheduledExecutorService WATCHDOG =
      Executors.newSingleThreadScheduledExecutor(
          runnable -> {
            Thread thread = new Thread(runnable, "OrtRunner watchdog");
            thread.setDaemon(true);
            return thread;
          });

  private final OrtSession session;
  private final OrtDevice device;
  private final Duration timeout;
  private volatile boolean closed;

  private OrtRunner(OrtSession session, OrtDevice device, Duration timeout) {
    this.session = session;
    this.device = device;
    this.timeout = timeout;
  }

  /**
   * The timeout new builders start with.
   *
   * @return {@link #DEFAULT_TIMEOUT} unless {@link #setDefaultTimeout} changed it
   */
  public static Duration defaultTimeout() {
    return defaultTimeout;
  }

  /**
   * Sets the timeout new builders start with, for code that builds runners it does not configure
   * (the conformance suites); {@link Builder#optTimeout} overrides it per runner.
   *
   * @param timeout positive
   * @throws IllegalArgumentException if the timeout is not positive
   */
  public static void setDefaultTimeout(Duration timeout) {
    defaultTimeout = requirePositive(timeout);
  }

  private static Duration requirePositive(Duration timeout) {
    if (timeout == null || timeout.isZero() || timeout.isNegative()) {
      throw new IllegalArgumentException("timeout must be positive, got " + timeout);
    }
    return timeout;
  }

  /** A timeout as text for messages: whole seconds where it is, else milliseconds. */
  static String describe(Duration timeout) {
    return timeout.toMillis() % 1000 == 0 ? timeout.toSeconds() + " s" : timeout.toMillis() + " ms";
  }

  /**
   * Starts a builder.
   *
   * @return a builder with CPU, all available cores intra-op and one inter-op thread
   */
  public static Builder builder() {
    return new Builder();
  }

  /**
   * Whether this ONNX Runtime build offers the CUDA execution provider.
   *
   * @return true when {@link OrtDevice#CUDA} can be used
   */
  public static boolean cudaAvailable() {
    return OrtEnvironment.getAvailableProviders().contains(OrtProvider.CUDA);
  }

  /**
   * The device this runner's session executes on.
   *
   * @return the device
   */
  public OrtDevice device() {
    return device;
  }

  /**
   * The model's graph input names, in graph order.
   *
   * @return the names
   */
  public List<String> inputNames() {
    checkOpen();
    return new ArrayList<>(session.getInputNames());
  }

  /**
   * The model's graph output names, in graph order.
   *
   * @return the names
   */
  public List<String> outputNames() {
    checkOpen();
    return new ArrayList<>(session.getOutputNames());
  }

  /**
   * Runs the model and returns every graph output.
   *
   * @param inputs graph inputs by name
   * @param manager the manager that will own the outputs
   * @return outputs by name, in graph order
   * @throws IllegalArgumentException if no input is given, an input is unknown or has an
   *     unsupported type, or ONNX Runtime refuses an input's type or shape
   * @throws IllegalStateException if the runner is closed or ONNX Runtime fails otherwise
   */
  public Map<String, NDArray> run(Map<String, NDArray> inputs, NDManager manager) {
    return run(inputs, new LinkedHashSet<>(outputNames()), manager);
  }

  /**
   * Runs the model and returns the requested outputs.
   *
   * @param inputs graph inputs by name
   * @param outputs names of the graph outputs to compute
   * @param manager the manager that will own the outputs
   * @return outputs by name
   * @throws IllegalArgumentException if no input is given, an input or output name is unknown, an
   *     input has an unsupported type, ONNX Runtime refuses an input's type or shape, or the run
   *     takes longer than the timeout (it is then terminated)
   * @throws IllegalStateException if the runner is closed or ONNX Runtime fails otherwise
   */
  public Map<String, NDArray> run(
      Map<String, NDArray> inputs, Set<String> outputs, NDManager manager) {
    checkOpen();
    Set<String> known = session.getInputNames();
    if (inputs.isEmpty()) {
      throw new IllegalArgumentException("no inputs given; the model's inputs are " + known);
    }
    for (String name : inputs.keySet()) {
      if (!known.contains(name)) {
        throw new IllegalArgumentException(
            "model has no input '" + name + "'; its inputs are " + known);
      }
    }
    Set<String> producible = session.getOutputNames();
    for (String name : outputs) {
      if (!producible.contains(name)) {
        throw new IllegalArgumentException(
            "model has no output '" + name + "'; its outputs are " + producible);
      }
    }
    OrtEnvironment env = OrtEnvironment.getEnvironment();
    Map<String, OnnxTensor> tensors = new LinkedHashMap<>();
    // Holds what the input tensors point into for the length of the run, see toTensor.
    NDManager staging = manager.newSubManager();
    try {
      for (Map.Entry<String, NDArray> entry : inputs.entrySet()) {
        tensors.put(entry.getKey(), toTensor(env, entry.getKey(), entry.getValue(), staging));
      }
      try (OrtSession.Result result = runWithWatchdog(tensors, outputs)) {
        Map<String, NDArray> arrays = new LinkedHashMap<>();
        for (String name : outputs) {
          Optional<OnnxValue> value = result.get(name);
          if (value.isEmpty()) {
            throw new IllegalStateException("ONNX Runtime returned no output '" + name + "'");
          }
          arrays.put(name, toNDArray(name, value.get(), manager));
        }
        return arrays;
      }
    } catch (OrtException e) {
      if (e.getCode() == OrtException.OrtErrorCode.ORT_INVALID_ARGUMENT) {
        // wrong element type, rank or size of an input: the caller's mistake
        throw new IllegalArgumentException("ONNX Runtime refused the inputs: " + e.getMessage(), e);
      }
      if (e.getCode() == OrtException.OrtErrorCode.ORT_RUNTIME_EXCEPTION
          || e.getCode() == OrtException.OrtErrorCode.ORT_FAIL) {
        // a node failed on these inputs (a Reshape that does not fit, a corrupted graph that
        // loaded): the model and inputs the caller supplied cannot be computed together
        throw new IllegalArgumentException(
            "ONNX Runtime could not run the model on these inputs: " + e.getMessage(), e);
      }
      throw new IllegalStateException("ONNX Runtime failed: " + e.getMessage(), e);
    } finally {
      for (OnnxTensor tensor : tensors.values()) {
        tensor.close();
      }
      staging.close(); // after the tensors that point into it
    }
  }

  /**
   * Runs the session with a watchdog that sets the run's terminate flag when the timeout passes;
   * ONNX Runtime checks it between nodes (also inside a {@code Loop}'s or {@code If}'s subgraph),
   * so even a loop of 2^62 iterations stops.
   */
  private OrtSession.Result runWithWatchdog(Map<String, OnnxTensor> tensors, Set<String> outputs)
      throws OrtException {
    AtomicBoolean fired = new AtomicBoolean();
    try (OrtSession.RunOptions options = new OrtSession.RunOptions()) {
      Object lock = new Object();
      boolean[] finished = {false};
      ScheduledFuture<?> watchdog =
          WATCHDOG.schedule(
              () -> {
                synchronized (lock) {
                  if (finished[0]) {
                    return; // the options may be closed already
                  }
                  try {
                    options.setTerminate(true);
                    fired.set(true);
                  } catch (OrtException e) {
                    // nothing to terminate
                  }
                }
              },
              timeout.toNanos(),
              TimeUnit.NANOSECONDS);
      try {
        return session.run(tensors, outputs, options);
      } catch (OrtException e) {
        if (fired.get()) {
          throw new IllegalArgumentException(
              "ONNX Runtime did not finish the run within the timeout of "
                  + describe(timeout)
                  + " (--timeout); the run was terminated",
              e);
        }
        throw e;
      } finally {
        watchdog.cancel(false);
        synchronized (lock) {
          finished[0] = true;
        }
      }
    }
  }

  /** Closes the session; later calls to {@link #run} fail with IllegalStateException. */
  @Override
  public void close() {
    if (closed) {
      return;
    }
    closed = true;
    try {
      session.close();
    } catch (OrtException e) {
      throw new IllegalStateException("cannot close ONNX Runtime session: " + e.getMessage(), e);
    }
  }

  private void checkOpen() {
    if (closed) {
      throw new IllegalStateException("OrtRunner is closed");
    }
  }

  /**
   * Wraps an input's memory in a tensor, without a copy where the engine allows it.
   *
   * <p>ONNX Runtime reads a direct buffer in place, so the memory must outlive the tensor. The
   * buffer comes from a view of the array attached to {@code staging}, which {@link #run} closes
   * after the tensors: for a contiguous CPU array the buffer is the array's own memory, which the
   * caller keeps open for the run; otherwise the PyTorch engine makes a contiguous CPU copy in the
   * view's manager, so the copy is freed after the run instead of staying in the caller's manager
   * until that closes.
   */
  private static OnnxTensor toTensor(
      OrtEnvironment env, String name, NDArray array, NDManager staging) throws OrtException {
    OnnxJavaType type = javaType(name, array.getDataType());
    NDArray view = array.reshape(array.getShape());
    view.attach(staging);
    ByteBuffer data = view.toByteBuffer(true);
    if (!data.isDirect()) {
      ByteBuffer direct = ByteBuffer.allocateDirect(data.remaining()).order(data.order());
      direct.put(data).flip();
      data = direct;
    }
    return OnnxTensor.createTensor(env, data, array.getShape().getShape(), type);
  }

  /** ONNX Runtime's Java type for an input: the constant of the {@link ElementType}'s ONNX name. */
  private static OnnxJavaType javaType(String name, DataType type) {
    ElementType element =
        ElementType.of(type)
            .orElseThrow(
                () ->
                    new IllegalArgumentException(
                        "input '" + name + "' has unsupported data type " + type));
    return OnnxJavaType.valueOf(element.onnxName());
  }

  private static NDArray toNDArray(String name, OnnxValue value, NDManager manager) {
    if (!(value instanceof OnnxTensor)) {
      throw new IllegalStateException(
          "output '" + name + "' is a " + value.getType() + ", not a tensor");
    }
    OnnxTensor tensor = (OnnxTensor) value;
    DataType type = dataType(name, tensor.getInfo().type);
    ByteBuffer bytes = tensor.getByteBuffer();
    if (bytes == null) {
      throw new IllegalStateException("output '" + name + "' has no readable buffer");
    }
    ByteBuffer direct = ByteBuffer.allocateDirect(bytes.remaining()).order(ByteOrder.nativeOrder());
    direct.put(bytes.order(ByteOrder.nativeOrder())).flip();
    // The PyTorch engine wraps a direct buffer without copying, and only the array created here
    // keeps the buffer alive: a view (reshape, transpose) taken from it could outlive the memory.
    // Copy once into memory that libtorch owns, so that every view is safe.
    NDArray array;
    try (NDArray wrapped = manager.create(direct, new Shape(tensor.getInfo().getShape()), type)) {
      array = wrapped.duplicate();
    }
    array.setName(name);
    return array;
  }

  /** The DJL type of an output: the {@link ElementType} of its Java type's (ONNX) name. */
  private static DataType dataType(String name, OnnxJavaType type) {
    return ElementType.ofOnnxName(type.name())
        .orElseThrow(
            () -> new IllegalStateException("output '" + name + "' has unsupported type " + type))
        .dataType();
  }

  /** Builds an {@link OrtRunner}; {@code optX} settings are optional. */
  public static final class Builder {
    private OrtDevice device = OrtDevice.CPU;
    private int intraOpThreads = Runtime.getRuntime().availableProcessors();
    private int interOpThreads = 1;
    private boolean spinning;
    private OrtLoggingLevel logLevel = OrtLoggingLevel.ORT_LOGGING_LEVEL_WARNING;
    private Duration timeout = defaultTimeout;

    private Builder() {}

    /**
     * Sets the limit on loading the model and on each run. A run that takes longer is terminated
     * through ONNX Runtime's run termination and fails; a load that takes longer is given up (the
     * loading thread, a daemon, finishes in the background and then frees the session).
     *
     * @param timeout positive; default {@link OrtRunner#defaultTimeout()}
     * @return this builder
     * @throws IllegalArgumentException if the timeout is not positive
     */
    public Builder optTimeout(Duration timeout) {
      this.timeout = requirePositive(timeout);
      return this;
    }

    /**
     * Sets how much ONNX Runtime logs on stderr for this session.
     *
     * @param level e.g. {@code ORT_LOGGING_LEVEL_FATAL} to silence kernel errors that {@link
     *     OrtRunner#run} already reports as exceptions; default warnings
     * @return this builder
     */
    public Builder optLogLevel(OrtLoggingLevel level) {
      this.logLevel = level;
      return this;
    }

    /**
     * Sets the execution device.
     *
     * @param device cpu (default) or cuda
     * @return this builder
     */
    public Builder optDevice(OrtDevice device) {
      this.device = device;
      return this;
    }

    /**
     * Sets the threads used inside one operator.
     *
     * @param threads at least 1; default all available cores
     * @return this builder
     */
    public Builder optIntraOpThreads(int threads) {
      this.intraOpThreads = threads;
      return this;
    }

    /**
     * Sets the threads used to run independent operators in parallel.
     *
     * @param threads at least 1; default 1
     * @return this builder
     */
    public Builder optInterOpThreads(int threads) {
      this.interOpThreads = threads;
      return this;
    }

    /**
     * Sets whether ONNX Runtime's idle worker threads spin (busy-wait) between operators and runs.
     * Off by default: this runner shares the process with libtorch, and threads that spin after a
     * run hold the cores that the next DJL call needs (the benchmark measured a 0.39 ms DJL call
     * taking 7.7 ms right after ORT runs with spinning on, on 2 cores).
     *
     * @param spinning true to let idle workers spin, as ONNX Runtime does by default
     * @return this builder
     */
    public Builder optSpinning(boolean spinning) {
      this.spinning = spinning;
      return this;
    }

    /**
     * Opens a session on a model file.
     *
     * @param model the {@code .onnx} file
     * @return the runner
     *     <p>ONNX Runtime loads the model from its path, so tensors stored as external data are
     *     read from beside the model; each external location must be a relative path that stays in
     *     the model's directory (no absolute path, no {@code ..}, no symbolic link out of it).
     * @throws IllegalArgumentException for bad settings, a path that is not a file, a file over
     *     {@link InputLimits.Limit#MODEL_BYTES}, an external data location outside the model's
     *     directory, a model ONNX Runtime rejects, or a load that takes longer than the timeout
     * @throws IllegalStateException if CUDA is requested but not available or cannot start
     */
    public OrtRunner build(Path model) {
      if (!Files.isRegularFile(model)) {
        throw new IllegalArgumentException(
            "model "
                + model
                + (Files.exists(model) ? " is not a regular file" : " does not exist"));
      }
      InputLimits.requireFile(model, InputLimits.Limit.MODEL_BYTES);
      ModelGuards.check(model);
      return open(model.toString(), null);
    }

    /**
     * Opens a session on a serialized model.
     *
     * @param model the model bytes
     * @return the runner
     * @throws IllegalArgumentException for bad settings, a model ONNX Runtime rejects, or a load
     *     that takes longer than the timeout
     * @throws IllegalStateException if CUDA is requested but not available or cannot start
     */
    public OrtRunner build(byte[] model) {
      ModelGuards.check(model);
      return open(null, model);
    }

    private OrtRunner open(String path, byte[] bytes) {
      if (device == null) {
        throw new IllegalArgumentException("device must not be null");
      }
      if (intraOpThreads < 1 || interOpThreads < 1) {
        throw new IllegalArgumentException(
            "thread counts must be >= 1, got intra-op "
                + intraOpThreads
                + ", inter-op "
                + interOpThreads);
      }
      if (device == OrtDevice.CUDA && !cudaAvailable()) {
        throw new IllegalStateException(
            CUDA_NEEDS + "; available: " + OrtEnvironment.getAvailableProviders());
      }
      Future<OrtSession> loading = LOADER.submit(() -> createSession(path, bytes, device));
      try {
        return new OrtRunner(loading.get(timeout.toNanos(), TimeUnit.NANOSECONDS), device, timeout);
      } catch (TimeoutException e) {
        // The native load cannot be interrupted: let it finish in the background and free it.
        abandon(loading);
        throw new IllegalArgumentException(
            "ONNX Runtime did not load the model"
                + (path != null ? " " + path : "")
                + " within the timeout of "
                + describe(timeout)
                + " (--timeout)",
            e);
      } catch (InterruptedException e) {
        Thread.currentThread().interrupt();
        abandon(loading);
        throw new IllegalStateException("interrupted while ONNX Runtime loaded the model", e);
      } catch (ExecutionException e) {
        Throwable cause = e.getCause();
        if (cause instanceof OrtException) {
          throw loadFailure(path, bytes, (OrtException) cause);
        }
        if (cause instanceof RuntimeException) {
          throw (RuntimeException) cause;
        }
        if (cause instanceof Error) {
          throw (Error) cause;
        }
        throw new IllegalStateException("ONNX Runtime failed to load the model: " + cause, cause);
      }
    }

    private OrtSession createSession(String path, byte[] bytes, OrtDevice on) throws OrtException {
      OrtEnvironment env = OrtEnvironment.getEnvironment();
      try (OrtSession.SessionOptions options = new OrtSession.SessionOptions()) {
        options.setIntraOpNumThreads(intraOpThreads);
        options.addConfigEntry("session.intra_op.allow_spinning", spinning ? "1" : "0");
        options.addConfigEntry("session.inter_op.allow_spinning", spinning ? "1" : "0");
        options.setInterOpNumThreads(interOpThreads);
        options.setSessionLogLevel(logLevel);
        if (on == OrtDevice.CUDA) {
          try {
            options.addCUDA();
          } catch (OrtException e) {
            throw new IllegalStateException(CUDA_NEEDS + ": " + e.getMessage(), e);
          }
        }
        return path != null ? env.createSession(path, options) : env.createSession(bytes, options);
      }
    }

    /**
     * What a failed load means: on CUDA, a model that loads on the CPU is fine and the CUDA
     * provider could not start (environment); otherwise the model is bad input.
     */
    private RuntimeException loadFailure(String path, byte[] bytes, OrtException e) {
      if (device == OrtDevice.CUDA) {
        boolean loadsOnCpu;
        try (OrtSession cpu = createSession(path, bytes, OrtDevice.CPU)) {
          loadsOnCpu = cpu != null;
        } catch (OrtException | RuntimeException other) {
          loadsOnCpu = false;
        }
        if (loadsOnCpu) {
          return new IllegalStateException(
              "the model loads on the CPU, but not with the CUDA execution provider ("
                  + CUDA_NEEDS
                  + "): "
                  + e.getMessage(),
              e);
        }
      }
      return new IllegalArgumentException(
          "ONNX Runtime cannot load the model"
              + (path != null ? " " + path : "")
              + ": "
              + e.getMessage(),
          e);
    }
  }

  /** What {@code --device cuda} needs, for messages. */
  static final String CUDA_NEEDS =
      "--device cuda needs the -Pcuda build (onnxruntime_gpu) and an NVIDIA GPU with a driver,"
          + " CUDA and cuDNN matching that ONNX Runtime";

  /** Loads models off the caller's thread, so a load can be given up; daemon threads. */
  private static final ExecutorService LOADER =
      Executors.newCachedThreadPool(
          runnable -> {
            Thread thread = new Thread(runnable, "OrtRunner loader");
            thread.setDaemon(true);
            return thread;
          });

  /** Closers of loads given up that may still be running; the JVM's exit waits for them. */
  private static final Set<Future<?>> ABANDONED = ConcurrentHashMap.newKeySet();

  static {
    // Exiting while ONNX Runtime is inside createSession crashes the process (SIGSEGV in the
    // loading thread once the library's globals are destroyed): wait for given-up loads first.
    Runtime.getRuntime()
        .addShutdownHook(
            new Thread(
                () -> {
                  for (Future<?> closer : ABANDONED) {
                    try {
                      closer.get();
                    } catch (InterruptedException e) {
                      return;
                    } catch (ExecutionException | RuntimeException e) {
                      // nothing left to wait for
                    }
                  }
                },
                "OrtRunner given-up loads"));
  }

  private static void abandon(Future<OrtSession> loading) {
    ABANDONED.add(LOADER.submit(() -> closeWhenLoaded(loading)));
  }

  private static void closeWhenLoaded(Future<OrtSession> loading) {
    try {
      loading.get().close();
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
    } catch (ExecutionException | OrtException | RuntimeException e) {
      // the load failed after all: nothing to free
    }
  }
}
