package io.github.djlattention.conformance.contrib;

import ai.onnxruntime.OnnxTensor;
import ai.onnxruntime.OrtEnvironment;
import ai.onnxruntime.OrtSession;
import io.github.djlattention.reference.ReferenceAttention.Tensor;
import java.nio.FloatBuffer;
import java.nio.IntBuffer;
import java.util.LinkedHashMap;
import java.util.Map;

/**
 * Runs one contrib case on ONNX Runtime in this process, for {@link OrtContribCrashTest}: prints
 * {@code running} before the session runs and {@code finished} after, so that a crash can be told
 * apart from a failure to start.
 */
public final class OrtCrashProbe {

  private OrtCrashProbe() {}

  /**
   * Runs the case.
   *
   * @param args the case name
   * @throws Exception when ONNX Runtime reports an error (the probe then exits non-zero without a
   *     crash)
   */
  public static void main(String[] args) throws Exception {
    ContribCase testCase =
        ContribCases.standard().stream()
            .filter(c -> c.name().equals(args[0]))
            .findFirst()
            .orElseThrow(() -> new IllegalArgumentException("no case " + args[0]));
    OrtEnvironment env = OrtEnvironment.getEnvironment();
    byte[] model = OrtContribImplementation.model(testCase).toByteArray();
    try (OrtSession.SessionOptions options = new OrtSession.SessionOptions();
        OrtSession session = env.createSession(model, options)) {
      Map<String, OnnxTensor> inputs = new LinkedHashMap<>();
      for (Map.Entry<String, Tensor> input : testCase.inputs().entrySet()) {
        Tensor t = input.getValue();
        long[] shape = java.util.Arrays.stream(t.shape()).asLongStream().toArray();
        if (testCase.node().integerInputs().contains(input.getKey())) {
          int[] values = java.util.Arrays.stream(t.data()).mapToInt(v -> (int) v).toArray();
          inputs.put(input.getKey(), OnnxTensor.createTensor(env, IntBuffer.wrap(values), shape));
        } else {
          float[] values = new float[t.data().length];
          for (int n = 0; n < values.length; n++) {
            values[n] = (float) t.data()[n];
          }
          inputs.put(input.getKey(), OnnxTensor.createTensor(env, FloatBuffer.wrap(values), shape));
        }
      }
      System.out.println("running");
      System.out.flush();
      try (OrtSession.Result result = session.run(inputs)) {
        System.out.println("finished");
      } finally {
        for (OnnxTensor tensor : inputs.values()) {
          tensor.close();
        }
      }
    }
  }
}
