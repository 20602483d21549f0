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
    assertArrayEquals(a.mask().additive(), b.mask().additive());
    assertNotEquals(
        a.tensor("query").data()[0] + "" + a.tensor("key").data()[1],
        c.tensor("query").data()[0] + "" + c.tensor("key").data()[1]);
    assertArrayEquals(new int[] {2, 2, 3, 4}, a.tensor("query").shape());
    for (double v : a.tensor("value").data()) {
      assertEquals(Math.rint(v * 64), v * 64, "multiple of 1/64: " + v);
      assertTrue(Math.abs(v) <= 1.5);
    }
    for (int row = 0; row < 3; row++) {
      assertTrue(Double.isFinite(a.mask().additive()[row * 3]), "key 0 stays visible");
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
    assertEquals(2, f32.rank());
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
  void theProjectsMatrixLoads() {
    List<GeneratedCase> cases = GeneratedCases.load(GeneratedCases.DEFAULT_FILE);
    assertEquals(71, cases.size());
    assertEquals("seed_3x4_scale1", cases.get(0).name());
    assertArrayEquals(new int[] {3, 4}, cases.get(0).tensor("query").shape());
  }
}
