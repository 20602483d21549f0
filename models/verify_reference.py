#!/usr/bin/python3
"""Checks the files written by export_reference.py.

    /usr/bin/python3 models/verify_reference.py

For every case: model.onnx passes onnx.checker (full check), uses opset 17, and its graph
input/output names and order equal the keys of inputs.npz/outputs.npz, with symbolic
batch and sequence dims; state_dict.npz loads strictly into a freshly built module, and
that module reproduces outputs.npz from inputs.npz to 1e-6. The seed golden tensors are
recomputed as well. Exits 1 and names every failure; exits 0 when all pass.
"""

import os
import sys
from typing import Dict, List

import numpy as np
import onnx
import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import export_reference as ref  # noqa: E402

ATOL = 1e-6


def load_npz(path: str) -> Dict[str, np.ndarray]:
    with np.load(path, allow_pickle=False) as data:
        return {key: data[key] for key in data.files}


def check_float32(label: str, arrays: Dict[str, np.ndarray], problems: List[str]) -> None:
    for key, array in arrays.items():
        if array.dtype != np.float32:
            problems.append(f"{label}[{key}] has dtype {array.dtype}, expected float32")


def check_close(label: str, actual: np.ndarray, expected: np.ndarray, problems: List[str]) -> None:
    if actual.shape != expected.shape:
        problems.append(f"{label}: shape {actual.shape} != {expected.shape}")
        return
    diff = np.abs(actual.astype(np.float64) - expected.astype(np.float64))
    worst = float(diff.max()) if diff.size else 0.0
    if not np.all(np.isfinite(actual)) or worst > ATOL:
        index = np.unravel_index(int(np.argmax(diff)), diff.shape)
        problems.append(f"{label}: max |diff| {worst:.3e} > {ATOL} at {index}")


def graph_signature(values) -> Dict[str, List[object]]:
    return {
        v.name: [d.dim_param or d.dim_value for d in v.type.tensor_type.shape.dim] for v in values
    }


def verify_case(case: ref.Case) -> List[str]:
    problems: List[str] = []
    folder = os.path.join(ref.MODELS_DIR, case.name)
    inputs = load_npz(os.path.join(folder, "inputs.npz"))
    outputs = load_npz(os.path.join(folder, "outputs.npz"))
    state = load_npz(os.path.join(folder, "state_dict.npz"))
    for label, arrays in (("inputs", inputs), ("outputs", outputs), ("state_dict", state)):
        check_float32(label, arrays, problems)

    # ONNX graph: valid, opset, names and order, symbolic dims.
    model = onnx.load(os.path.join(folder, "model.onnx"))
    onnx.checker.check_model(model, full_check=True)
    opsets = {o.domain: o.version for o in model.opset_import}
    if opsets.get("", opsets.get("ai.onnx")) != ref.OPSET:
        problems.append(f"opset_import {opsets}, expected default domain {ref.OPSET}")
    for label, values, arrays in (
        ("input", model.graph.input, inputs),
        ("output", model.graph.output, outputs),
    ):
        signature = graph_signature(values)
        if list(signature) != list(arrays):
            problems.append(f"graph {label}s {list(signature)} != npz keys {list(arrays)}")
            continue
        for name, dims in signature.items():
            if len(dims) != arrays[name].ndim:
                problems.append(f"graph {label} {name} rank {len(dims)} != {arrays[name].shape}")
                continue
            for axis, dim_name in case.dynamic_axes.get(name, {}).items():
                if dims[axis] != dim_name:
                    problems.append(f"graph {label} {name} dim {axis} is {dims[axis]}, not {dim_name}")
            for axis, dim in enumerate(dims):
                if isinstance(dim, int) and dim != arrays[name].shape[axis]:
                    problems.append(f"graph {label} {name} dim {axis} {dim} != {arrays[name].shape}")

    # Fresh module + saved parameters reproduce the saved outputs.
    module = case.build()
    module.eval()
    target = case.params_of(module)
    expected_keys = list(target.state_dict().keys())
    if list(state) != expected_keys:
        problems.append(f"state_dict keys {list(state)} != module keys {expected_keys}")
    target.load_state_dict({k: torch.from_numpy(v) for k, v in state.items()}, strict=True)
    recomputed = ref.run_eager(
        module, {k: torch.from_numpy(v) for k, v in inputs.items()}, case.output_names
    )
    for name, tensor in recomputed.items():
        check_close(f"outputs[{name}]", tensor.numpy(), outputs[name], problems)

    # Weights are a probability distribution over the key axis.
    row_sums = outputs["weights"].astype(np.float64).sum(axis=-1)
    if np.abs(row_sums - 1.0).max() > 1e-5:
        problems.append(f"weights rows sum to {row_sums.min()}..{row_sums.max()}, not 1")
    return problems


def verify_seed() -> List[str]:
    problems: List[str] = []
    folder = os.path.join(ref.MODELS_DIR, "seed")
    q = np.load(os.path.join(folder, "q.npy"))
    k = np.load(os.path.join(folder, "k.npy"))
    v = np.load(os.path.join(folder, "v_identity.npy"))
    expected = load_npz(os.path.join(folder, "expected.npz"))
    check_float32("seed", {"q": q, "k": k, "v_identity": v}, problems)
    check_float32("seed/expected", expected, problems)
    check_close("seed q", q, np.array(ref.SEED_Q, dtype=np.float32), problems)
    check_close("seed k", k, np.array(ref.SEED_K, dtype=np.float32), problems)
    check_close("seed v_identity", v, np.eye(3, dtype=np.float32), problems)
    recomputed = ref.seed_expected(q, k)
    if list(expected) != list(recomputed):
        problems.append(f"seed/expected keys {list(expected)} != {list(recomputed)}")
    for key, array in recomputed.items():
        check_close(f"seed/expected[{key}]", array, expected.get(key, np.empty(0)), problems)
    # The document prints the scores and unscaled weights to 4 decimals.
    doc_scores = np.array([[1.18, 1.86, 0.96], [1.35, 2.88, 1.39], [0.93, 2.06, 2.36]])
    doc_weights = np.array(
        [[0.2648, 0.5227, 0.2125], [0.1502, 0.6935, 0.1563], [0.1209, 0.3741, 0.5050]]
    )
    if np.abs(expected["scores"] - doc_scores).max() > 5e-5:
        problems.append("seed scores differ from the document's printed values")
    if np.abs(expected["weights_unscaled"] - doc_weights).max() > 5e-5:
        problems.append("seed weights_unscaled differ from the document's printed values")
    return problems


def main() -> int:
    torch.set_num_threads(1)
    failures = 0
    for case in ref.CASES:
        problems = verify_case(case)
        failures += len(problems)
        print(f"{'ok  ' if not problems else 'FAIL'} {case.name}")
        for problem in problems:
            print(f"     {problem}")
    problems = verify_seed()
    failures += len(problems)
    print(f"{'ok  ' if not problems else 'FAIL'} seed")
    for problem in problems:
        print(f"     {problem}")
    print(f"{failures} problem(s)")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
