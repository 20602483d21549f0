package io.github.djlattention.verify;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDArrays;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.index.NDIndex;
import io.github.djlattention.ops.Attention;
import io.github.djlattention.ops.AttentionResult;
import java.util.List;
import org.junit.jupiter.api.Test;

/**
 * The report fails loudly and names the site when the project's attention is broken: a wrong scale,
 * a dropped mask (the batch is padded, so the mask matters) or two heads swapped. ONNX Runtime and
 * the block still agree, so the verdict blames the project.
 */
class BrokenAttentionReportTest {

  @Test
  void aWrongScaleDeviatesAtEverySite() {
    VerifySettings broken =
        VerifySettings.defaults()
            .withAttention(
                (q, k, v, o) ->
                    Attention.attention(q, k, v, o.toBuilder().optScale(o.scale() * 1.05).build()));
    check(broken, List.of());
  }

  @Test
  void aDroppedMaskDeviatesAtEverySite() {
    VerifySettings broken =
        VerifySettings.defaults()
            .withAttention(
                (q, k, v, o) -> Attention.attention(q, k, v, o.toBuilder().optMask(null).build()));
    check(broken, List.of());
  }

  @Test
  void swappedHeadsDeviateOnThoseHeadsOnly() {
    VerifySettings broken =
        VerifySettings.defaults()
            .withAttention(
                (q, k, v, o) -> {
                  AttentionResult right = Attention.attention(q, k, v, o);
                  return new AttentionResult(
                      swap(right.output()), right.hasWeights() ? swap(right.weights()) : null);
                });
    check(broken, List.of(0, 1));
  }

  /** Heads 0 and 1 of (B, H, S, X) exchanged. */
  private static NDArray swap(NDArray x) {
    NDArray first = x.get(new NDIndex(":, 0:1"));
    NDArray second = x.get(new NDIndex(":, 1:2"));
    NDArray rest = x.get(new NDIndex(":, 2:"));
    return NDArrays.concat(new ai.djl.ndarray.NDList(second, first, rest), 1);
  }

  private static void check(VerifySettings broken, List<Integer> heads) {
    try (NDManager manager = NDManager.newBaseManager("PyTorch")) {
      ModelReport report = MiniLm.verify(MiniLm.FLOAT, broken, manager);
      assertFalse(report.allAgree());
      assertEquals(6, report.deviating().size());
      for (SiteResult site : report.sites()) {
        SiteVerdict verdict = site.verdict();
        assertEquals(SiteVerdict.Kind.PROJECT_DEVIATES, verdict.kind(), verdict.summary());
        assertEquals(List.of("djl", "djl-fast"), verdict.deviating(), verdict.summary());
        assertTrue(verdict.summary().startsWith(site.site().layer() + ": "), verdict.summary());
        assertTrue(
            verdict.summary().contains("djl deviates from float64-reference on output"),
            verdict.summary());
        for (SiteResult.Check check : site.checks()) {
          boolean project =
              check.implementation().equals("djl") || check.implementation().equals("djl-fast");
          assertEquals(!project, check.agrees(), check.implementation() + " " + check.output());
          if (project && !heads.isEmpty()) {
            assertEquals(
                heads,
                check.deviatingHeads(),
                check.implementation() + " " + check.output() + " " + check.error());
            assertTrue(verdict.summary().contains("heads " + heads), verdict.summary());
          }
        }
      }
    }
  }
}
