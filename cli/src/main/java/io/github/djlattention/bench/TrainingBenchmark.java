package io.github.djlattention.bench;

import java.io.BufferedReader;
import java.io.IOException;
import java.io.InputStreamReader;
import java.io.PrintWriter;
import java.io.UncheckedIOException;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.concurrent.TimeUnit;

/**
 * The {@code bench --training} command's work: one training step (forward and backward inside a
 * GradientCollector) of the project's {@code MultiHeadAttentionBlock} against DJL's own {@code
 * ScaledDotProductAttentionBlock}, float32, B=1, E=512, H=8, at S = 128, 512 and 2048. The
 * project's block runs twice: with the kernel calls that record gradients take by default
 * (libtorch's fused attention with autograd) and with the step-by-step chain ({@code
 * -Ddjl.attention.autograd=chain}).
 *
 * <p>Every series runs in a child JVM of its own ({@link TrainingStepProbe}), so that its peak
 * resident memory (VmHWM) is its own; the series take turns, round after round, so that they see
 * the same machine load. Reported: the median over rounds of each child's median step time, and the
 * largest growth of VmHWM over the child's baseline (after initialization).
 */
public final class TrainingBenchmark {

  /** The sequence lengths of the table. */
  static final List<Long> SEQUENCES = List.of(128L, 512L, 2048L);

  static final int EMBEDDING = 512;
  static final int HEADS = 8;

  /** The series: a name, the probe's block argument and the JVM property of the project's. */
  private record Series(String name, String block, String property) {}

  private static final List<Series> SERIES =
      List.of(
          new Series("project (fused, autograd)", "project", "-Ddjl.attention.autograd=fused"),
          new Series("project (chain)", "project", "-Ddjl.attention.autograd=chain"),
          new Series(
              "DJL ScaledDotProductAttentionBlock", "djl", "-Ddjl.attention.autograd=fused"));

  private final int rounds;
  private final int steps;
  private final PrintWriter log;

  /**
   * Creates the benchmark.
   *
   * @param quick fewer rounds and steps
   * @param log where progress and the table go
   */
  public TrainingBenchmark(boolean quick, PrintWriter log) {
    this.rounds = quick ? 1 : 3;
    this.steps = quick ? 5 : 15;
    this.log = log;
  }

  /** Runs every series at every length and prints the table. */
  public void run() {
    Map<String, List<double[]>> results = new LinkedHashMap<>();
    for (long seq : SEQUENCES) {
      for (int round = 0; round < rounds; round++) {
        for (Series series : SERIES) {
          double[] step = probe(series, seq);
          results.computeIfAbsent(series.name + "@" + seq, k -> new ArrayList<>()).add(step);
          log.printf(
              Locale.ROOT,
              "training S=%d round %d %s: %.2f ms, peak +%.0f MiB%n",
              seq,
              round + 1,
              series.name,
              step[0],
              step[1]);
          log.flush();
        }
      }
    }
    log.printf(
        Locale.ROOT,
        "%n| S | %s | %s | %s | project/DJL | chain/DJL |%n|---:|---:|---:|---:|---:|---:|%n",
        SERIES.get(0).name + " ms (peak MiB)",
        SERIES.get(1).name + " ms (peak MiB)",
        SERIES.get(2).name + " ms (peak MiB)");
    for (long seq : SEQUENCES) {
      double[][] cell = new double[SERIES.size()][];
      for (int i = 0; i < SERIES.size(); i++) {
        cell[i] = summary(results.get(SERIES.get(i).name + "@" + seq));
      }
      log.printf(
          Locale.ROOT,
          "| %d | %.2f (+%.0f) | %.2f (+%.0f) | %.2f (+%.0f) | %.2f | %.2f |%n",
          seq,
          cell[0][0],
          cell[0][1],
          cell[1][0],
          cell[1][1],
          cell[2][0],
          cell[2][1],
          cell[0][0] / cell[2][0],
          cell[1][0] / cell[2][0]);
    }
    log.printf(
        Locale.ROOT,
        "%nB=1 E=%d H=%d float32, forward + backward per step, median of %d rounds of %d steps;"
            + " peak = growth of the child JVM's VmHWM over its baseline after initialization%n",
        EMBEDDING,
        HEADS,
        rounds,
        steps);
    log.flush();
  }

  /** The median time and the largest peak over rounds. */
  private static double[] summary(List<double[]> rounds) {
    double[] times = rounds.stream().mapToDouble(r -> r[0]).sorted().toArray();
    double peak = rounds.stream().mapToDouble(r -> r[1]).max().orElse(0);
    return new double[] {times[times.length / 2], peak};
  }

  /** Runs one child; returns its median step in ms and its peak growth in MiB. */
  private double[] probe(Series series, long seq) {
    String java = ProcessHandle.current().info().command().orElse("java");
    List<String> command =
        List.of(
            java,
            "-Dai.djl.offline=true",
            series.property,
            "-cp",
            System.getProperty("java.class.path"),
            TrainingStepProbe.class.getName(),
            series.block,
            "1",
            Long.toString(seq),
            Integer.toString(EMBEDDING),
            Integer.toString(HEADS),
            Integer.toString(steps));
    Process child;
    try {
      child = new ProcessBuilder(command).redirectError(ProcessBuilder.Redirect.INHERIT).start();
    } catch (IOException e) {
      throw new UncheckedIOException("could not start the child JVM " + java, e);
    }
    try (BufferedReader out =
        new BufferedReader(new InputStreamReader(child.getInputStream(), StandardCharsets.UTF_8))) {
      String line;
      while ((line = out.readLine()) != null) {
        if (line.startsWith("step ")) {
          String[] fields = line.split(" ");
          if (!child.waitFor(60, TimeUnit.SECONDS)) {
            throw new IllegalStateException("the training probe did not exit");
          }
          double peakMib = (Long.parseLong(fields[4]) - Long.parseLong(fields[3])) / 1024.0;
          return new double[] {Double.parseDouble(fields[1]), peakMib};
        }
      }
      throw new IllegalStateException(
          "the training probe " + Arrays.toString(command.toArray()) + " printed no step line");
    } catch (IOException e) {
      throw new UncheckedIOException(e);
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
      throw new IllegalStateException("interrupted while waiting for the training probe", e);
    } finally {
      child.destroyForcibly();
    }
  }
}
