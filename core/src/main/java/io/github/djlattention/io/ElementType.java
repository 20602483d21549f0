package io.github.djlattention.io;

import ai.djl.ndarray.types.DataType;
import java.util.Arrays;
import java.util.Optional;
import java.util.function.Predicate;

/**
 * The element types the project reads, writes and passes between engines, in one table: each
 * carries its DJL {@link DataType}, its NumPy name and descriptor, and its ONNX name and {@code
 * TensorProto.DataType} number. The ONNX name is also the constant's name in ONNX Runtime's {@code
 * OnnxJavaType} ({@code FLOAT}, {@code INT64}, ...), which {@code ort.OrtRunner} looks up by it;
 * ONNX Runtime's own {@code OnnxTensorType} numbers differ from ONNX's, so the number is never used
 * for it. The ONNX and ONNX Runtime classes stay out of this package: names and numbers are the
 * ones the ONNX specification fixes ({@code onnx.proto}), and a test in the ONNX module checks
 * every row against the generated protobuf constants and ONNX Runtime.
 *
 * <p>The NumPy name ({@code float32}, {@code bool}, ...) is also the name the project prints and
 * accepts in files such as {@code conformance/generated/cases.json}.
 */
public enum ElementType {
  /** IEEE binary32: NumPy {@code <f4}, ONNX {@code FLOAT} (1). */
  FLOAT32(DataType.FLOAT32, "float32", 'f', 4, "FLOAT", 1),
  /** IEEE binary64: NumPy {@code <f8}, ONNX {@code DOUBLE} (11). */
  FLOAT64(DataType.FLOAT64, "float64", 'f', 8, "DOUBLE", 11),
  /** IEEE binary16: NumPy {@code <f2}, ONNX {@code FLOAT16} (10). */
  FLOAT16(DataType.FLOAT16, "float16", 'f', 2, "FLOAT16", 10),
  /** One byte, 0 or 1: NumPy {@code |b1}, ONNX {@code BOOL} (9). */
  BOOL(DataType.BOOLEAN, "bool", 'b', 1, "BOOL", 9),
  /** NumPy {@code |i1}, ONNX {@code INT8} (3). */
  INT8(DataType.INT8, "int8", 'i', 1, "INT8", 3),
  /** NumPy {@code |u1}, ONNX {@code UINT8} (2). */
  UINT8(DataType.UINT8, "uint8", 'u', 1, "UINT8", 2),
  /** NumPy {@code <i4}, ONNX {@code INT32} (6). */
  INT32(DataType.INT32, "int32", 'i', 4, "INT32", 6),
  /** NumPy {@code <i8}, ONNX {@code INT64} (7). */
  INT64(DataType.INT64, "int64", 'i', 8, "INT64", 7);

  /** The list of supported types as error messages name it. */
  public static final String SUPPORTED = "float16/32/64, bool or integer";

  private final DataType dataType;
  private final String numpyName;
  private final char numpyKind;
  private final int itemSize;
  private final String onnxName;
  private final int onnxType;

  ElementType(
      DataType dataType,
      String numpyName,
      char numpyKind,
      int itemSize,
      String onnxName,
      int onnxType) {
    this.dataType = dataType;
    this.numpyName = numpyName;
    this.numpyKind = numpyKind;
    this.itemSize = itemSize;
    this.onnxName = onnxName;
    this.onnxType = onnxType;
  }

  /**
   * The DJL data type.
   *
   * @return e.g. {@link DataType#FLOAT32}
   */
  public DataType dataType() {
    return dataType;
  }

  /**
   * The NumPy name, as messages and case files spell it.
   *
   * @return e.g. {@code float32} or {@code bool}
   */
  public String numpyName() {
    return numpyName;
  }

  /**
   * Bytes per element.
   *
   * @return 1, 2, 4 or 8
   */
  public int itemSize() {
    return itemSize;
  }

  /**
   * The little-endian NumPy descriptor, as {@code .npy} headers write it.
   *
   * @return e.g. {@code <f4} or {@code |b1}
   */
  public String numpyDescr() {
    return (itemSize == 1 ? "|" : "<") + numpyKind + itemSize;
  }

  /**
   * The ONNX name: the {@code TensorProto.DataType} constant, and ONNX Runtime's {@code
   * OnnxJavaType} constant of the same name.
   *
   * @return e.g. {@code FLOAT} for float32, {@code DOUBLE} for float64
   */
  public String onnxName() {
    return onnxName;
  }

  /**
   * The ONNX {@code TensorProto.DataType} number.
   *
   * @return e.g. 1 for float32
   */
  public int onnxType() {
    return onnxType;
  }

  /** Whether this is a floating-point type. */
  public boolean isFloat() {
    return numpyKind == 'f';
  }

  /**
   * The type of a DJL data type.
   *
   * @param dataType the DJL type
   * @return the element type, empty for types outside the table (bfloat16, uint32, strings, ...)
   */
  public static Optional<ElementType> of(DataType dataType) {
    return find(type -> type.dataType == dataType);
  }

  /**
   * The type of a NumPy kind letter and item size (from a descriptor such as {@code <f4}).
   *
   * @param kind {@code f}, {@code b}, {@code i} or {@code u}
   * @param itemSize bytes per element
   * @return the element type, empty when the table has none
   */
  public static Optional<ElementType> ofNumpy(char kind, int itemSize) {
    return find(type -> type.numpyKind == kind && type.itemSize == itemSize);
  }

  /**
   * The type of a NumPy name.
   *
   * @param name e.g. {@code float32}
   * @return the element type, empty when the table has none
   */
  public static Optional<ElementType> ofName(String name) {
    return find(type -> type.numpyName.equals(name));
  }

  /**
   * The type of an ONNX name (also ONNX Runtime's {@code OnnxJavaType} name).
   *
   * @param onnxName e.g. {@code FLOAT}
   * @return the element type, empty when the table has none
   */
  public static Optional<ElementType> ofOnnxName(String onnxName) {
    return find(type -> type.onnxName.equals(onnxName));
  }

  /**
   * The type of an ONNX {@code TensorProto.DataType} number.
   *
   * @param onnxType e.g. 1 for float
   * @return the element type, empty for ONNX types outside the table
   */
  public static Optional<ElementType> ofOnnx(int onnxType) {
    return find(type -> type.onnxType == onnxType);
  }

  private static Optional<ElementType> find(Predicate<ElementType> matches) {
    return Arrays.stream(values()).filter(matches).findFirst();
  }
}
