package io.github.djlattention.conformance.contrib;

import static org.junit.jupiter.api.Assertions.assertEquals;

import ai.djl.Device;
import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import io.github.djlattention.conformance.CaseOutputs;
import io.github.djlattention.conformance.CaseResult;
import io.github.djlattention.conformance.ConformanceRunner;
import io.github.djlattention.conformance.Implementation;
import io.github.djlattention.conformance.SuiteResult;
import io.github.djlattention.conformance.Verdict;
import io.github.djlattention.ops.contrib.ContribGroupQueryAttention;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.TreeSet;
import java.util.function.UnaryOperator;
import java.util.stream.Collectors;
import org.junit.jupiter.api.Test;

/**
 * The {@code contrib} suite fails loudly, on the right cases, when the project's adapter is wrong:
 * a window one key short (ONNX Runtime's reading) or a key padding mask dropped.
 */
class ContribBrokenImplementationTest {

  /** Runs the adapter on a changed case. */
  private record Broken(UnaryOperator<ContribCase> change) implements Implementation<ContribCase> {
    @Override
    public String name() {
      return "broken";
    }

    @Override
    public CaseOutputs run(ContribCase testCase, NDManager manager) {
      ContribCase changed = change.apply(testCase);
      try (NDManager work = NDManager.newBaseManager(Device.cpu())) {
        Map<String, NDArray> outputs = changed.node().compute(changed.arrays(work), false);
        return CaseOutputs.of(testCase.comparable(outputs, manager));
      }
    }
  }

  private static Set<String> failing(Broken broken, String prefix) {
    List<ContribCase> cases =
        ContribCases.standard().stream().filter(c -> c.name().startsWith(prefix)).toList();
    try (NDManager manager = NDManager.newBaseManager(Device.cpu())) {
      SuiteResult result =
          new ConformanceRunner(manager).run(new ContribSuite(cases, broken, List.of(), List.of()));
      for (CaseResult c : result.cases()) {
        if (!c.verdict().projectPasses()) {
          assertEquals(Verdict.Kind.PROJECT_DEVIATES, c.verdict().kind(), c.name());
        }
      }
      return result.cases().stream()
          .filter(c -> !c.verdict().projectPasses())
          .map(CaseResult::name)
          .collect(Collectors.toCollection(TreeSet::new));
    }
  }

  @Test
  void aWindowOneKeyShortFailsTheWindowCases() {
    Broken shortWindow =
        new Broken(
            c -> {
              if (c.node() instanceof ContribNode.GroupQuery gqa
                  && gqa.op().localWindowSize() > 0) {
                ContribGroupQueryAttention op = gqa.op();
                ContribGroupQueryAttention.Builder builder =
                    ContribGroupQueryAttention.builder()
                        .setNumHeads(op.numHeads())
                        .setKvNumHeads(op.kvNumHeads())
                        .optLocalWindowSize(op.localWindowSize() - 1);
                return new ContribCase(
                    c.name(),
                    c.group(),
                    c.seed(),
                    new ContribNode.GroupQuery(builder.build()),
                    c.inputs(),
                    c.tolerance());
              }
              return c;
            });
    assertEquals(Set.of("gqa_window_2", "gqa_window_decode"), failing(shortWindow, "gqa_window"));
  }

  @Test
  void aDroppedPaddingMaskFailsTheCasesThatHaveOne() {
    Broken unmasked =
        new Broken(
            c -> {
              Map<String, io.github.djlattention.reference.ReferenceAttention.Tensor> inputs =
                  new java.util.LinkedHashMap<>(c.inputs());
              inputs.remove("key_padding_mask");
              return new ContribCase(
                  c.name(), c.group(), c.seed(), c.node(), inputs, c.tolerance());
            });
    Set<String> expected =
        ContribCases.standard().stream()
            .filter(c -> c.name().startsWith("mha_") && c.inputs().containsKey("key_padding_mask"))
            .map(ContribCase::name)
            .collect(Collectors.toCollection(TreeSet::new));
    assertEquals(expected, failing(unmasked, "mha_"));
  }
}
