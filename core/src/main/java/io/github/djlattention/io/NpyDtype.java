package io.github.djlattention.io;

import ai.djl.ndarray.types.DataType;
import java.util.Locale;

/** The NumPy element types this package reads and writes, with their DJL counterparts. */
enum NpyDtype {
  FLOAT16('f', 2, DataType.FLOAT16, "float16"),
  FLOAT32('f', 4, DataType.FLOAT32, "float32"),
  FLOAT64('f', 8, DataType.FLOAT64, "float64"),
  BOOL('b', 1, DataType.BOOLEAN, "bool"),
  INT8('i', 1, DataType.INT8, "int8"),
  UINT8('u', 1, DataType.UINT8, "uint8"),
  INT32('i', 4, DataType.INT32, "int32"),
  INT64('i', 8, DataType.INT64, "int64");

  private final char kind;
  private final int itemSize;
  private final DataType dataType;
  private final String numpyName;

  NpyDtype(char kind, int itemSize, DataType dataType, String numpyName) {
    this.kind = kind;
    this.itemSize = itemSize;
    this.dataType = dataType;
    this.numpyName = numpyName;
  }

  /** Bytes per element. */
  int itemSize() {
    return itemSize;
  }

  /** The DJL data type of arrays of this dtype. */
  DataType dataType() {
    return dataType;
  }

  /** The NumPy name, as used in error messages ({@code float32}, {@code bool}). */
  String numpyName() {
    return numpyName;
  }

  /** The little-endian descriptor written to headers ({@code '<f4'}, {@code '|b1'}). */
  String littleEndianDescr() {
    return (itemSize == 1 ? "|" : "<") + kind + itemSize;
  }

  /** The dtype with this kind letter and item size, or {@code null} when not supported. */
  static NpyDtype of(char kind, int itemSize) {
    for (NpyDtype dtype : values()) {
      if (dtype.kind == kind && dtype.itemSize == itemSize) {
        return dtype;
      }
    }
    return null;
  }

  /**
   * The dtype for a DJL data type.
   *
   * @throws IllegalArgumentException if the data type has no supported NumPy counterpart
   */
  static NpyDtype of(DataType dataType) {
    for (NpyDtype dtype : values()) {
      if (dtype.dataType == dataType) {
        return dtype;
      }
    }
    throw new IllegalArgumentException(
        "cannot store data type "
            + dataType.toString().toLowerCase(Locale.ROOT)
            + " in .npy (expected float16/32/64, bool or integer)");
  }
}
