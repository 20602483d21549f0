#!/usr/bin/python3
"""Writes the PyTorch reference models and data under models/.

Run with Debian's interpreter (torch 1.13, onnx 1.12):

    apt-get install -y python3-torch python3-onnx
    /usr/bin/python3 models/export_reference.py

For every case in CASES it writes models/<name>/ with model.onnx, state_dict.npz,
inputs.npz and outputs.npz, and it writes the seed golden tensors to models/seed/.
Everything is seeded per case, and npz files are written with fixed zip timestamps,
so two runs produce byte-identical files. The Java build never runs this script.
"""

import io
import json
import os
import sys
import zipfile
from dataclasses import dataclass, field
from typing import Callable, Dict, List, Optional, Tuple

import numpy as np
import onnx
import torch
import torch.nn.functional as F
from torch import nn

OPSET = 17
MODELS_DIR = os.path.dirname(os.path.abspath(__file__))
BATCH = 2
# Zip member timestamp; the earliest date a zip header can hold.
ZIP_EPOCH = (1980, 1, 1, 0, 0, 0)


# --------------------------------------------------------------------------- modules


class SeedSelfAttention(nn.Module):
    """The seed document's single-head self-attention.

    x (B, S, E) -> output (B, S, D), weights (B, S, S).
    """

    def __init__(self, embed_dim: int, head_dim: int, bias: bool = False):
        super().__init__()
        self.head_dim = head_dim
        self.W_q = nn.Linear(embed_dim, head_dim, bias=bias)
        self.W_k = nn.Linear(embed_dim, head_dim, bias=bias)
        self.W_v = nn.Linear(embed_dim, head_dim, bias=bias)

    def forward(self, x):
        Q = self.W_q(x)  # (B, S, D)
        K = self.W_k(x)  # (B, S, D)
        V = self.W_v(x)  # (B, S, D)
        scores = torch.matmul(Q, K.transpose(-2, -1)) / self.head_dim**0.5  # (B, S, S)
        weights = F.softmax(scores, dim=-1)  # (B, S, S)
        output = torch.matmul(weights, V)  # (B, S, D)
        return output, weights


class MhaWrapper(nn.Module):
    """torch.nn.MultiheadAttention(batch_first=True) returning head-averaged weights.

    query (B, S, E), key (B, T, kdim), value (B, T, vdim), optional additive float
    attn_mask (S, T) -> output (B, S, E), weights (B, S, T).
    With causal=True the wrapper builds a -inf upper-triangular (S, T) mask itself.
    """

    def __init__(self, mha: nn.MultiheadAttention, causal: bool = False):
        super().__init__()
        self.mha = mha
        self.causal = causal

    def forward(self, query, key, value, attn_mask=None):
        if self.causal:
            s, t = query.size(1), key.size(1)
            attn_mask = torch.triu(
                torch.full((s, t), float("-inf"), dtype=query.dtype), diagonal=1
            )  # (S, T)
        return self.mha(
            query,
            key,
            value,
            attn_mask=attn_mask,
            need_weights=True,
            average_attn_weights=True,
        )


# --------------------------------------------------------------------------- cases


@dataclass
class Case:
    """One reference model: how to build it and its test inputs."""

    name: str
    seed: int
    description: str
    config: Dict[str, object]
    build: Callable[[], nn.Module]
    # Module whose state_dict is saved (PyTorch's own parameter names).
    params_of: Callable[[nn.Module], nn.Module]
    # Builds the named inputs (in ONNX input order) from a seeded generator.
    make_inputs: Callable[[torch.Generator], Dict[str, torch.Tensor]]
    output_names: List[str]
    dynamic_axes: Dict[str, Dict[int, str]] = field(default_factory=dict)


def _randn(gen: torch.Generator, *shape: int) -> torch.Tensor:
    return torch.randn(*shape, generator=gen, dtype=torch.float32)


def _randomize_biases(module: nn.Module, gen: torch.Generator) -> None:
    """MultiheadAttention initialises its biases to zero; make them non-zero."""
    with torch.no_grad():
        for name, param in module.named_parameters():
            if name.endswith("bias"):
                param.copy_(torch.rand(param.shape, generator=gen) - 0.5)


def _seed_case(name: str, seed: int, embed_dim: int, head_dim: int, bias: bool, seq: int) -> Case:
    def build() -> nn.Module:
        return SeedSelfAttention(embed_dim, head_dim, bias=bias)

    def make_inputs(gen):
        return {"x": _randn(gen, BATCH, seq, embed_dim)}

    return Case(
        name=name,
        seed=seed,
        description=f"SeedSelfAttention(embed_dim={embed_dim}, head_dim={head_dim}, bias={bias})",
        config={"embed_dim": embed_dim, "head_dim": head_dim, "bias": bias, "seq": seq},
        build=build,
        params_of=lambda m: m,
        make_inputs=make_inputs,
        output_names=["output", "weights"],
        dynamic_axes={
            "x": {0: "batch", 1: "seq"},
            "output": {0: "batch", 1: "seq"},
            "weights": {0: "batch", 1: "seq", 2: "seq"},
        },
    )


def _mha_case(
    name: str,
    seed: int,
    embed_dim: int,
    num_heads: int,
    bias: bool,
    seq_q: int,
    seq_kv: int,
    kdim: Optional[int] = None,
    vdim: Optional[int] = None,
    self_attention: bool = False,
    mask: Optional[Callable[[int, int], torch.Tensor]] = None,
    causal: bool = False,
) -> Case:
    kdim_ = kdim if kdim is not None else embed_dim
    vdim_ = vdim if vdim is not None else embed_dim

    def build() -> nn.Module:
        mha = nn.MultiheadAttention(
            embed_dim, num_heads, bias=bias, batch_first=True, kdim=kdim, vdim=vdim
        )
        return MhaWrapper(mha, causal=causal)

    def make_inputs(gen):
        query = _randn(gen, BATCH, seq_q, embed_dim)
        if self_attention:
            key, value = query.clone(), query.clone()
        else:
            key = _randn(gen, BATCH, seq_kv, kdim_)
            value = _randn(gen, BATCH, seq_kv, vdim_)
        inputs = {"query": query, "key": key, "value": value}
        if mask is not None:
            inputs["attn_mask"] = mask(seq_q, seq_kv)
        return inputs

    dynamic_axes = {
        "query": {0: "batch", 1: "seq_q"},
        "key": {0: "batch", 1: "seq_kv"},
        "value": {0: "batch", 1: "seq_kv"},
        "output": {0: "batch", 1: "seq_q"},
        "weights": {0: "batch", 1: "seq_q", 2: "seq_kv"},
    }
    if mask is not None:
        dynamic_axes["attn_mask"] = {0: "seq_q", 1: "seq_kv"}
    kinds = []
    if self_attention:
        kinds.append("query=key=value values")
    if mask is not None:
        kinds.append("additive float attn_mask input")
    if causal:
        kinds.append("causal mask built inside the model")
    return Case(
        name=name,
        seed=seed,
        description=(
            f"nn.MultiheadAttention(embed_dim={embed_dim}, num_heads={num_heads}, bias={bias}"
            + (f", kdim={kdim}, vdim={vdim}" if kdim is not None else "")
            + ", batch_first=True)"
            + (" with " + ", ".join(kinds) if kinds else "")
        ),
        config={
            "embed_dim": embed_dim,
            "num_heads": num_heads,
            "head_dim": embed_dim // num_heads,
            "bias": bias,
            "kdim": kdim_,
            "vdim": vdim_,
            "seq_q": seq_q,
            "seq_kv": seq_kv,
            "causal": causal,
            "attn_mask_input": mask is not None,
        },
        build=build,
        params_of=lambda m: m.mha,
        make_inputs=make_inputs,
        output_names=["output", "weights"],
        dynamic_axes=dynamic_axes,
    )


def _float_mask(seq_q: int, seq_kv: int) -> torch.Tensor:
    """Additive (S, T) mask: -inf blocks a pair, finite values shift the score.

    Column 0 stays finite in every row, so no row is fully masked.
    """
    mask = torch.zeros(seq_q, seq_kv, dtype=torch.float32)
    for i in range(seq_q):
        for j in range(seq_kv):
            if j > 0 and (i + 2 * j) % 3 == 0:
                mask[i, j] = float("-inf")
            elif (i + j) % 4 == 1:
                mask[i, j] = -1.5
            elif (i + j) % 4 == 2:
                mask[i, j] = 0.75
    return mask


CASES: List[Case] = [
    _seed_case("seed_self_attention", 1001, embed_dim=8, head_dim=4, bias=False, seq=5),
    _seed_case("seed_self_attention_bias", 1002, embed_dim=8, head_dim=6, bias=True, seq=7),
    _mha_case("mha_self_bias", 2001, 16, 4, True, 5, 5, self_attention=True),
    _mha_case("mha_self_nobias", 2002, 16, 2, False, 6, 6),
    _mha_case("mha_cross", 2003, 12, 3, True, 3, 7),
    _mha_case("mha_cross_short", 2004, 8, 2, True, 6, 2),
    _mha_case("mha_kdim", 2005, 8, 2, True, 4, 5, kdim=6, vdim=10),
    _mha_case("mha_float_mask", 2006, 16, 4, True, 4, 6, mask=_float_mask),
    _mha_case("mha_causal", 2007, 16, 4, True, 6, 6, self_attention=True, causal=True),
]

# The seed document's 3 tokens x 4 features.
SEED_Q = [[1.0, 0.5, 0.3, 0.2], [0.8, 1.2, 0.4, 0.7], [0.5, 0.3, 1.5, 0.6]]
SEED_K = [[0.9, 0.4, 0.2, 0.1], [1.0, 1.1, 0.5, 0.8], [0.4, 0.2, 1.2, 0.5]]


# --------------------------------------------------------------------------- building


def build_module(case: Case) -> Tuple[nn.Module, Dict[str, torch.Tensor]]:
    """Builds the seeded module in eval mode and its inputs; same result every call."""
    torch.manual_seed(case.seed)
    np.random.seed(case.seed)
    module = case.build()
    gen = torch.Generator().manual_seed(case.seed)
    if isinstance(module, MhaWrapper):
        _randomize_biases(module, gen)
    module.eval()
    inputs = case.make_inputs(gen)
    return module, inputs


def run_eager(module: nn.Module, inputs: Dict[str, torch.Tensor], output_names: List[str]):
    with torch.no_grad():
        results = module(*inputs.values())
    return {name: t.detach().to(torch.float32) for name, t in zip(output_names, results)}


def save_npz(path: str, arrays: Dict[str, np.ndarray]) -> None:
    """Writes an uncompressed .npz like numpy.savez, but with fixed zip timestamps.

    numpy.savez stamps each member with the current time, so its files differ from run
    to run; this writer makes byte-identical files. np.load reads them as usual.
    """
    with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_STORED) as zf:
        for key, array in arrays.items():
            buf = io.BytesIO()
            np.lib.format.write_array(buf, np.ascontiguousarray(array), allow_pickle=False)
            info = zipfile.ZipInfo(key + ".npy", date_time=ZIP_EPOCH)
            info.compress_type = zipfile.ZIP_STORED
            info.external_attr = 0o644 << 16
            zf.writestr(info, buf.getvalue())


def _np32(t: torch.Tensor) -> np.ndarray:
    return t.detach().cpu().to(torch.float32).numpy()


def export_case(case: Case) -> Dict[str, object]:
    out_dir = os.path.join(MODELS_DIR, case.name)
    os.makedirs(out_dir, exist_ok=True)
    module, inputs = build_module(case)
    outputs = run_eager(module, inputs, case.output_names)

    onnx_path = os.path.join(out_dir, "model.onnx")
    torch.onnx.export(
        module,
        tuple(inputs.values()),
        onnx_path,
        opset_version=OPSET,
        do_constant_folding=True,
        input_names=list(inputs.keys()),
        output_names=case.output_names,
        dynamic_axes=case.dynamic_axes,
    )
    onnx.checker.check_model(onnx.load(onnx_path))

    state = case.params_of(module).state_dict()
    save_npz(os.path.join(out_dir, "state_dict.npz"), {k: _np32(v) for k, v in state.items()})
    save_npz(os.path.join(out_dir, "inputs.npz"), {k: _np32(v) for k, v in inputs.items()})
    save_npz(os.path.join(out_dir, "outputs.npz"), {k: _np32(v) for k, v in outputs.items()})

    return {
        "name": case.name,
        "description": case.description,
        "seed": case.seed,
        "config": case.config,
        "inputs": {k: list(v.shape) for k, v in inputs.items()},
        "outputs": {k: list(v.shape) for k, v in outputs.items()},
        "state_dict": {k: list(v.shape) for k, v in state.items()},
        "dynamic_axes": {k: {str(a): n for a, n in v.items()} for k, v in case.dynamic_axes.items()},
    }


def seed_expected(q: np.ndarray, k: np.ndarray) -> Dict[str, np.ndarray]:
    """The seed's steps in float64 on the stored float32 Q and K, cast to float32."""
    q64 = torch.from_numpy(q).to(torch.float64)  # (3, 4)
    k64 = torch.from_numpy(k).to(torch.float64)  # (3, 4)
    scores = torch.matmul(q64, k64.T)  # (3, 3)
    weights_unscaled = F.softmax(scores, dim=-1)  # (3, 3)
    weights_scaled = F.softmax(scores / q.shape[-1] ** 0.5, dim=-1)  # (3, 3)
    output_scale1 = torch.matmul(weights_unscaled, torch.eye(3, dtype=torch.float64))  # (3, 3)
    return {
        "scores": scores.to(torch.float32).numpy(),
        "weights_unscaled": weights_unscaled.to(torch.float32).numpy(),
        "weights_scaled": weights_scaled.to(torch.float32).numpy(),
        "output_scale1": output_scale1.to(torch.float32).numpy(),
    }


def export_seed() -> None:
    out_dir = os.path.join(MODELS_DIR, "seed")
    os.makedirs(out_dir, exist_ok=True)
    q = np.array(SEED_Q, dtype=np.float32)
    k = np.array(SEED_K, dtype=np.float32)
    np.save(os.path.join(out_dir, "q.npy"), q)
    np.save(os.path.join(out_dir, "k.npy"), k)
    np.save(os.path.join(out_dir, "v_identity.npy"), np.eye(3, dtype=np.float32))
    save_npz(os.path.join(out_dir, "expected.npz"), seed_expected(q, k))


def main() -> int:
    torch.use_deterministic_algorithms(True)
    torch.set_num_threads(1)
    manifest = {
        "generator": "models/export_reference.py",
        "torch": torch.__version__,
        "onnx": onnx.__version__,
        "numpy": np.__version__,
        "opset": OPSET,
        "models": [],
    }
    for case in CASES:
        manifest["models"].append(export_case(case))
        print(f"wrote models/{case.name}/", file=sys.stderr)
    export_seed()
    print("wrote models/seed/", file=sys.stderr)
    with open(os.path.join(MODELS_DIR, "manifest.json"), "w", encoding="utf-8") as f:
        json.dump(manifest, f, indent=2, sort_keys=False)
        f.write("\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
