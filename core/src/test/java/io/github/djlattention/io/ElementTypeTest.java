package io.github.djlattention.io;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import ai.djl.ndarray.types.DataType;
import java.util.Arrays;
import java.util.Optional;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.EnumSource;

/** Every key of the one element-type table finds its own row, and only that row. */
class ElementTypeTest {

  @ParameterizedTest
  @EnumSource(ElementType.class)
  void everyKeyFindsItsRow(ElementType type) {
    assertEquals(Optional.of(type), ElementType.of(type.dataType()));
    assertEquals(Optional.of(type), ElementType.ofName(type.numpyName()));
    assertEquals(Optional.of(type), ElementType.ofOnnx(type.onnxType()));
    assertEquals(Optional.of(type), ElementType.ofOnnxName(type.onnxName()));
    String descr = type.numpyDescr();
    assertEquals(
        Optional.of(type),
        ElementType.ofNumpy(descr.charAt(1), Integer.parseInt(descr.substring(2))));
    assertEquals(type.dataType().getNumOfBytes(), type.itemSize());
    assertEquals(type.dataType().isFloating(), type.isFloat());
  }

  @Test
  void theKeysAreUnique() {
    ElementType[] all = ElementType.values();
    assertEquals(all.length, Arrays.stream(all).map(ElementType::dataType).distinct().count());
    assertEquals(all.length, Arrays.stream(all).map(ElementType::numpyDescr).distinct().count());
    assertEquals(all.length, Arrays.stream(all).mapToInt(ElementType::onnxType).distinct().count());
    assertEquals(all.length, Arrays.stream(all).map(ElementType::onnxName).distinct().count());
  }

  @Test
  void keysOutsideTheTableFindNothing() {
    assertTrue(ElementType.of(DataType.BFLOAT16).isEmpty());
    assertTrue(ElementType.ofName("complex64").isEmpty());
    assertTrue(ElementType.ofNumpy('f', 16).isEmpty());
    assertTrue(ElementType.ofOnnx(16).isEmpty()); // ONNX bfloat16
    assertEquals("<f4", ElementType.FLOAT32.numpyDescr());
    assertEquals("|b1", ElementType.BOOL.numpyDescr());
  }
}
