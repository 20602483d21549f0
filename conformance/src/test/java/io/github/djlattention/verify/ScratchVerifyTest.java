package io.github.djlattention.verify;

import ai.djl.ndarray.NDManager;
import java.nio.file.Path;
import java.util.List;
import org.junit.jupiter.api.Test;

class ScratchVerifyTest {
  @Test
  void run() {
    for (String name : List.of("all-minilm-l6-v2", "all-minilm-l6-v2-q")) {
      Path dir = Path.of("target/models", name);
      try (NDManager manager = NDManager.newBaseManager()) {
        ModelInputs inputs =
            ModelInputs.fromText(
                List.of(
                    "The quick brown fox jumps over the lazy dog.",
                    "Hello world",
                    "Attention is all you need, they said, and then they measured it twice."),
                dir.resolve(name + "-tokenizer.json"),
                java.util.Set.of("input_ids", "attention_mask", "token_type_ids"),
                manager);
        ModelReport report =
            ModelVerifier.builder()
                .optProgress(System.out::println)
                .build()
                .verify(dir.resolve(name + ".onnx"), inputs, manager);
        System.out.println(
            report.inputs() + " tap effect " + report.tapEffect() + " " + report.seconds() + " s");
        for (SiteResult s : report.sites()) {
          System.out.println(s.verdict().summary() + " | " + s.shapes() + " | " + s.sublayer());
          for (SiteResult.Check c : s.checks()) {
            System.out.println(
                "   "
                    + c.implementation()
                    + " "
                    + c.output()
                    + " "
                    + (c.error() != null
                        ? c.error()
                        : String.format(
                            "maxAbs %.3g maxRel %.3g p99 %.3g cos %.9f mism %d worst %s",
                            c.whole().maxAbs(),
                            c.whole().maxRel(),
                            c.whole().p99(),
                            c.whole().cosine(),
                            c.whole().mismatched(),
                            c.whole().worstIndexText())));
          }
        }
      }
    }
  }
}
