# Regenerate the golden NumPy fixtures in this directory (not needed by the build):
#   /usr/bin/python3 make_fixtures.py
import numpy as np
from numpy.lib import format as fmt

a23 = np.arange(6).reshape(2, 3)
for name, dt in [("f2", "<f2"), ("f4", "<f4"), ("f8", "<f8"), ("i1", "|i1"), ("u1", "|u1"),
                 ("i4", "<i4"), ("i8", "<i8")]:
    np.save(f"{name}_2x3.npy", (a23 - 2).astype(dt) if name != "u1" else a23.astype(dt))
np.save("b1_2x3.npy", np.array([[True, False, True], [False, False, True]]))
np.save("f4_scalar.npy", np.array(2.5, dtype="<f4"))
np.save("f4_0x4.npy", np.zeros((0, 4), dtype="<f4"))
np.save("f8_rank4.npy", (np.arange(24, dtype="<f8") / 8).reshape(1, 2, 3, 4))
np.save("f4_fortran_2x3.npy", np.asfortranarray(a23.astype("<f4")))
np.save("f8_fortran_2x3x4.npy", np.asfortranarray(np.arange(24, dtype="<f8").reshape(2, 3, 4)))
np.save("i8_bigendian_fortran_2x3.npy", np.asfortranarray(a23.astype(">i8")))
np.save("f4_bigendian_2x3.npy", a23.astype(">f4"))
for version in [(2, 0), (3, 0)]:
    with open(f"f4_v{version[0]}_2x3.npy", "wb") as f:
        fmt.write_array(f, a23.astype("<f4"), version=version)
np.save("u5_strings.npy", np.array(["ab", "cdefg"]))
np.savez("stored.npz", q=a23.astype("<f4"), mask=np.array([True, False]), n=np.array(7, dtype="<i8"))
np.savez_compressed("compressed.npz", q=a23.astype("<f4"), mask=np.array([True, False]),
                    n=np.array(7, dtype="<i8"))
