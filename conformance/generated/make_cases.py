#!/usr/bin/env python3
"""Writes cases.json, the matrix of the `generated` conformance suite.

Run with Debian's python3 (no packages needed): python3 conformance/generated/make_cases.py
The Java suite reads only cases.json; every input value is drawn in Java from the case's seed.
"""
import json
import os

cases = []
seed = [1000]


def add(name, group, kind, **spec):
    seed[0] += 1
    case = {"name": name, "group": group, "kind": kind, "seed": seed[0], "dtype": "float32"}
    case.update(spec)
    cases.append(case)


def fn(name, group, b=2, h=2, g=None, s=4, t=None, d=4, **extra):
    add(name, group, "functional", batch=b, heads=h, kvHeads=g or h, queryLength=s,
        keyLength=t or s, headSize=d, **extra)


# The seed document's 3x4 example: Q, K as printed there, V = identity, 2-D tensors.
SEED_Q = [[1.0, 0.5, 0.3, 0.2], [0.8, 1.2, 0.4, 0.7], [0.5, 0.3, 1.5, 0.6]]
SEED_K = [[0.9, 0.4, 0.2, 0.1], [1.0, 1.1, 0.5, 0.8], [0.4, 0.2, 1.2, 0.5]]
for dtype, suffix in (("float32", ""), ("float64", "_f64"), ("float16", "_f16")):
    for scale, label in ((1.0, "scale1"), (None, "default_scale")):
        if dtype != "float32" and scale is None:
            continue
        spec = {"query": SEED_Q, "key": SEED_K, "value": "identity", "dtype": dtype}
        if scale is not None:
            spec["scale"] = scale
        add("seed_3x4_" + label + suffix, "seed 3x4", "functional", **spec)

for b in (1, 2, 3):
    fn(f"batch{b}_h2_s4", "batch", b=b)
fn("rank3_b2_s5_d6", "batch", b=2, h=1, s=5, d=6, rank=3)
for h in (1, 3, 4):
    fn(f"heads{h}_s5_d8", "heads", h=h, s=5, d=8)
for h, g in ((4, 2), (4, 1), (6, 3), (8, 2)):
    fn(f"gqa_h{h}_g{g}", "gqa", h=h, g=g, s=4, t=6)
for s, t in ((2, 7), (7, 2), (1, 5), (5, 1)):
    fn(f"cross_s{s}_t{t}", "cross-attention", s=s, t=t)

# Masks broadcast to the weights (B, H, S, T) by NumPy's rules, aligned on the right.
B, H, S, T = 2, 2, 3, 5
for shape in ([T], [S, T], [H, S, T], [B, 1, S, T], [B, H, S, T], [1, 1, 1, T]):
    fn("bool_mask_" + "x".join(map(str, shape)), "bool mask", b=B, h=H, s=S, t=T,
       mask={"type": "bool", "shape": shape})
for shape in ([S, T], [B, H, S, T], [H, 1, T], [1, T]):
    fn("float_mask_" + "x".join(map(str, shape)), "float mask", b=B, h=H, s=S, t=T,
       mask={"type": "float", "shape": shape})
fn("bool_mask_fully_masked_row", "fully masked rows", b=B, h=H, s=S, t=T,
   mask={"type": "bool", "shape": [B, 1, S, T], "maskedRows": [1]})
fn("float_mask_fully_masked_row", "fully masked rows", b=B, h=H, s=S, t=T,
   mask={"type": "float", "shape": [S, T], "maskedRows": [0]})

fn("causal_s5_t5", "causal", s=5, causal=True)
fn("causal_s3_t6", "causal", s=3, t=6, causal=True)
fn("causal_s6_t3", "causal", s=6, t=3, causal=True)
fn("causal_bool_mask", "causal", s=5, causal=True, mask={"type": "bool", "shape": [5, 5]})
fn("causal_gqa_h4_g2", "causal", h=4, g=2, s=5, causal=True)

for scale in (0.1, 1.0, 2.5):
    fn(f"scale_{scale}", "scale", s=4, t=5, d=8, scale=scale)

fn("softcap_2", "softcap", s=4, t=5, scale=1.0, softcap=2.0)
fn("softcap_30_default_scale", "softcap", s=4, t=5, softcap=30.0)
fn("softcap_bool_mask", "softcap", s=4, t=5, softcap=1.5,
   mask={"type": "bool", "shape": [4, 5]})

fn("f64_basic", "float64", dtype="float64")
fn("f64_gqa_float_mask", "float64", h=4, g=2, s=3, t=5, dtype="float64",
   mask={"type": "float", "shape": [3, 5]})
fn("f64_causal_cross", "float64", s=3, t=6, causal=True, dtype="float64")
fn("f64_softcap_scale", "float64", scale=0.5, softcap=3.0, dtype="float64")

fn("f16_basic", "float16", dtype="float16")
fn("f16_gqa", "float16", h=4, g=2, s=3, t=5, dtype="float16")
fn("f16_bool_mask", "float16", s=3, t=5, dtype="float16",
   mask={"type": "bool", "shape": [2, 2, 3, 5]})
fn("f16_float_mask", "float16", s=3, t=5, dtype="float16",
   mask={"type": "float", "shape": [3, 5]})
fn("f16_causal", "float16", s=5, causal=True, dtype="float16")
fn("f16_scale_softcap", "float16", scale=0.25, softcap=5.0, dtype="float16")


def mha(name, group="mha block", b=2, e=8, h=2, g=None, s=4, t=None, cross=False, **extra):
    add(name, group, "mha-block", batch=b, embed=e, heads=h, kvHeads=g or h, queryLength=s,
        keyLength=t or s, cross=cross, **extra)


mha("mha_self_bias", bias=True)
mha("mha_self_nobias", e=16, h=4, s=5, bias=False)
mha("mha_cross_kdim_vdim", s=3, t=6, cross=True, keySize=6, valueSize=10, bias=True)
mha("mha_gqa_h4_g2", e=16, h=4, g=2, s=5, bias=True)
mha("mha_bool_mask_rank2", s=3, t=5, cross=True, bias=True, mask={"type": "bool", "rank": 2})
mha("mha_bool_mask_rank3", s=3, t=5, cross=True, bias=True, mask={"type": "bool", "rank": 3})
mha("mha_bool_mask_rank4", s=3, t=5, cross=True, bias=True, mask={"type": "bool", "rank": 4})
mha("mha_float_mask_rank3", s=4, bias=True, mask={"type": "float", "rank": 3})
mha("mha_masked_row", s=3, t=5, cross=True, bias=True,
    mask={"type": "bool", "rank": 2, "maskedRows": [2]})
mha("mha_causal_self", s=5, bias=True, causal=True)
mha("mha_causal_cross_s3_t6", s=3, t=6, cross=True, bias=True, causal=True)
mha("mha_causal_gqa_mask", e=16, h=4, g=2, s=5, bias=False, causal=True,
    mask={"type": "bool", "rank": 2})
mha("mha_f64", s=4, t=6, cross=True, bias=True, dtype="float64")


def seed_block(name, b=2, e=8, d=4, s=5, **extra):
    add(name, "self block", "self-block", batch=b, embed=e, headSize=d, queryLength=s,
        keyLength=s, **extra)


seed_block("self_block_nobias", bias=False)
seed_block("self_block_bias", d=6, bias=True)
seed_block("self_block_bool_mask", bias=False, mask={"type": "bool", "rank": 2})
seed_block("self_block_float_mask", bias=True, mask={"type": "float", "rank": 3})
seed_block("self_block_causal", bias=True, causal=True)
seed_block("self_block_f64", bias=True, dtype="float64")

doc = {
    "description": "Seeded cases of the `generated` conformance suite; written by make_cases.py."
    " The float64 reference (reference.ReferenceAttention, with projections in float64 for"
    " block cases) is the oracle. Inputs are drawn from `seed` as multiples of 1/64, exactly"
    " representable in float16, float32 and float64.",
    "cases": cases,
}
path = os.path.join(os.path.dirname(os.path.abspath(__file__)), "cases.json")
with open(path, "w") as f:
    # One case per line, so a diff shows which cases changed.
    f.write("{\n \"description\": " + json.dumps(doc["description"]) + ",\n \"cases\": [\n")
    f.write(",\n".join("  " + json.dumps(c) for c in cases))
    f.write("\n ]\n}\n")
print(f"{len(cases)} cases -> {path}")
