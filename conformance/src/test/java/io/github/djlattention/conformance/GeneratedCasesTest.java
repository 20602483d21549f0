package io.github.djlattention.conformance;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import ai.djl.ndarray.types.DataType;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.Set;
import java.util.stream.Collectors;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** Reading the matrix and drawing the tensors. */
class GeneratedCasesTest {

  private static JsonNode json(String text) throws Exception {
    return new ObjectMapper().readTree(text);
  }

  @Test
  void theSameSeedDrawsTheSameTensorsAndAnotherSeedOthers() throws Exception {
    String spec =
        "{\"name\":\"c\",\"kind\":\"functional\",\"seed\":%d,\"batch\":2,\"heads\":2,"
            + "\"queryLength\":3,\"headSize\":4,\"mask\":{\"type\":\"float\",\"shape\":[3,3]}}";
    GeneratedCase a = GeneratedCases.parse(json(String.format(spec, 7)));
    GeneratedCase b = GeneratedCases.parse(json(String.format(spec, 7)));
    GeneratedCase c = GeneratedCases.parse(json(String.format(spec, 8)));
    assertArrayEquals(a.tensor("query").data(), b.tensor("query").data());
    assertArrayEquals(a.optMask().orElseThrow().additive(), b.optMask().orElseThrow().additive());
    assertNotEquals(
        a.tensor("query").data()[0] + "" + a.tensor("key").data()[1],
        c.tensor("query").data()[0] + "" + c.tensor("key").data()[1]);
    assertArrayEquals(new int[] {2, 2, 3, 4}, a.tensor("query").shape());
    for (double v : a.tensor("value").data()) {
      assertEquals(Math.rint(v * 64), v * 64, "multiple of 1/64: " + v);
      assertTrue(Math.abs(v) <= 1.5);
    }
    for (int row = 0; row < 3; row++) {
      assertTrue(
          Double.isFinite(a.optMask().orElseThrow().additive()[row * 3]), "key 0 stays visible");
    }
  }

  @Test
  void theSeedExampleIsRoundedToTheCaseType() throws Exception {
    String spec =
        "{\"name\":\"s\",\"kind\":\"functional\",\"seed\":1,\"dtype\":\"%s\","
            + "\"query\":[[0.3,1.0]],\"key\":[[0.5,0.25],[1,2]],\"value\":\"identity\"}";
    GeneratedCase f16 = GeneratedCases.parse(json(String.format(spec, "float16")));
    assertEquals(0.300048828125, f16.tensor("query").data()[0]);
    GeneratedCase f32 = GeneratedCases.parse(json(String.format(spec, "float32")));
    assertEquals((double) 0.3f, f32.tensor("query").data()[0]);
    assertArrayEquals(new double[] {1, 0, 0, 1}, f32.tensor("value").data());
    assertEquals(DataType.FLOAT32, f32.type());
    assertEquals(2, ((FunctionalCase) f32).rank());
  }

  @Test
  void float16RoundingIsToNearestEven() {
    assertEquals(1.0, GeneratedCases.round(1 + Math.scalb(1.0, -11), DataType.FLOAT16));
    assertEquals(
        1 + Math.scalb(1.0, -9),
        GeneratedCases.round(1 + 3 * Math.scalb(1.0, -11), DataType.FLOAT16));
    assertEquals(-2.5, GeneratedCases.round(-2.5, DataType.FLOAT16));
  }

  @Test
  void malformedCasesNameTheProblem(@TempDir Path dir) throws Exception {
    IllegalArgumentException kind =
        assertThrows(
            IllegalArgumentException.class,
            () -> GeneratedCases.parse(json("{\"name\":\"x\",\"kind\":\"conv\",\"seed\":1}")));
    assertTrue(kind.getMessage().contains("unknown kind 'conv'"), kind.getMessage());
    IllegalArgumentException heads =
        assertThrows(
            IllegalArgumentException.class,
            () ->
                GeneratedCases.parse(
                    json(
                        "{\"name\":\"x\",\"kind\":\"functional\",\"seed\":1,\"batch\":1,"
                            + "\"heads\":3,\"kvHeads\":2,\"queryLength\":2,\"headSize\":2}")));
    assertTrue(heads.getMessage().contains("kvHeads 2"), heads.getMessage());
    Path file = dir.resolve("cases.json");
    String one =
        "{\"name\":\"d\",\"kind\":\"functional\",\"seed\":1,\"batch\":1,\"heads\":1,"
            + "\"queryLength\":2,\"headSize\":2}";
    Files.writeString(file, "{\"cases\":[" + one + "," + one + "]}");
    IllegalArgumentException twice =
        assertThrows(IllegalArgumentException.class, () -> GeneratedCases.load(file));
    assertTrue(twice.getMessage().contains("'d' appears twice"), twice.getMessage());
  }

  @Test
  void eachKindIsItsOwnRecordAndSaysWhatItsSizesGet() throws Exception {
    GeneratedCase mha =
        GeneratedCases.parse(
            json(
                "{\"name\":\"m\",\"kind\":\"mha-block\",\"seed\":3,\"batch\":2,\"embed\":8,"
                    + "\"heads\":4,\"kvHeads\":2,\"queryLength\":3,\"bias\":true,"
                    + "\"mask\":{\"type\":\"bool\",\"rank\":3}}"));
    MhaBlockCase m = (MhaBlockCase) mha;
    assertEquals(2, m.config().sizes().headSize());
    assertEquals("q_proj", m.projection("q"));
    assertArrayEquals(new int[] {2, 3, 3}, m.optMask().orElseThrow().shape());
    assertArrayEquals(new int[] {2, 1, 3, 3}, m.mask4d());
    assertEquals(8, m.parameters().size(), "weights and biases of q, k, v and out");
    assertTrue(m.parameters().containsKey("out_proj.bias"));
    assertEquals(List.of("x"), List.copyOf(m.blockTensors().keySet()));
    assertEquals(List.of("query", "key", "value"), List.copyOf(m.graphTensors().keySet()));

    GeneratedCase self =
        GeneratedCases.parse(
            json(
                "{\"name\":\"s\",\"kind\":\"self-block\",\"seed\":4,\"batch\":1,\"embed\":6,"
                    + "\"headSize\":3,\"queryLength\":5}"));
    SelfBlockCase c = (SelfBlockCase) self;
    assertEquals(1, c.config().sizes().heads());
    assertEquals(5, c.config().sizes().keyLength());
    assertEquals("W_v", c.projection("v"));
    assertEquals(Set.of("W_q.weight", "W_k.weight", "W_v.weight"), c.parameters().keySet());

    GeneratedCase functional =
        GeneratedCases.parse(
            json(
                "{\"name\":\"f\",\"kind\":\"functional\",\"seed\":5,\"batch\":2,\"heads\":3,"
                    + "\"queryLength\":2,\"keyLength\":4,\"headSize\":2,\"softcap\":5,"
                    + "\"mask\":{\"type\":\"float\",\"shape\":[3,1,4]}}"));
    FunctionalCase f = (FunctionalCase) functional;
    assertArrayEquals(new int[] {1, 3, 1, 4}, f.mask4d());
    assertArrayEquals(new int[] {6, 2, 4}, f.blockMask().orElseThrow().shape());
    assertEquals(Optional.of("the blocks have no softcap"), f.blockUnsupported());
  }

  @Test
  void kindSpecificSizesThatDoNotFitNameTheProblem() {
    assertEquals(
        "m: embed 6, heads 4, kvHeads 4 do not fit",
        refused(
            "{\"name\":\"m\",\"kind\":\"mha-block\",\"seed\":1,\"batch\":1,"
                + "\"embed\":6,\"heads\":4,\"queryLength\":2}"));
    assertEquals(
        "s: block mask rank must be 2, 3 or 4",
        refused(
            "{\"name\":\"s\",\"kind\":\"self-block\",\"seed\":1,\"batch\":1,"
                + "\"embed\":4,\"headSize\":2,\"queryLength\":2,"
                + "\"mask\":{\"type\":\"bool\",\"rank\":5}}"));
    String broadcast =
        refused(
            "{\"name\":\"f\",\"kind\":\"functional\",\"seed\":1,\"batch\":2,"
                + "\"heads\":1,\"queryLength\":2,\"headSize\":2,"
                + "\"mask\":{\"type\":\"bool\",\"shape\":[3,2]}}");
    assertTrue(broadcast.contains("does not broadcast"), broadcast);
  }

  /** The message with which a case is refused. */
  private static String refused(String spec) {
    return assertThrows(IllegalArgumentException.class, () -> GeneratedCases.parse(json(spec)))
        .getMessage();
  }

  @Test
  void theProjectsMatrixLoads() {
    List<GeneratedCase> cases = GeneratedCases.load(GeneratedCases.DEFAULT_FILE);
    assertEquals(71, cases.size());
    Map<Class<?>, Long> kinds =
        cases.stream().collect(Collectors.groupingBy(Object::getClass, Collectors.counting()));
    assertEquals(
        Set.of(FunctionalCase.class, MhaBlockCase.class, SelfBlockCase.class), kinds.keySet());
    assertEquals("seed_3x4_scale1", cases.get(0).name());
    assertArrayEquals(new int[] {3, 4}, cases.get(0).tensor("query").shape());
  }
}
