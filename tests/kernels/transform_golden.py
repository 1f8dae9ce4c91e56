#!/usr/bin/env python3
"""Golden values for kernels/transform_math.h, from an independent numpy implementation of
the semantics in docs/TRANSFORMS.md. Writes tests/kernels/transform_golden.json; the C++
test compares bit for bit (floats as their uint32 bit patterns).

  transform_golden.py > tests/kernels/transform_golden.json
"""
import json

import numpy as np

f32 = np.float32
rng = np.random.default_rng(20261126)
special = np.array([0.0, -0.0, 1.0, -1.0, np.nan, np.inf, -np.inf, 1e-45, -1e-45, 1.17549435e-38,
                    3.4028235e38, -3.4028235e38, 1e-30, 65504.0, 0.5, -0.5, 2.0, 1e7, -1e7],
                   dtype=f32)
values = np.concatenate([special,
                         (rng.standard_normal(200) * 10).astype(f32),
                         rng.lognormal(0, 6, 100).astype(f32) * rng.choice([-1, 1], 100).astype(f32)])


def bits(a):
    return [int(x) for x in np.asarray(a, dtype=f32).view(np.uint32)]


with np.errstate(all="ignore"):
    signed_log1p = np.where(values < 0, -np.log1p(np.abs(values)),
                            np.where(values > 0, np.log1p(np.abs(values)), values)).astype(f32)
    lo, hi = f32(-3.5), f32(250.0)
    clipped = np.where(np.isnan(values), values, np.minimum(np.maximum(values, lo), hi)).astype(f32)
    center, inv_scale = f32(1.25), f32(0.37)
    standardized = ((values - center).astype(f32) * inv_scale).astype(f32)
    # x / sqrt(1 + (x / bound)^2), each operation in float32; +-bound past the square's range
    bound = f32(3.0)
    t = (values / bound).astype(f32)
    smooth = np.where(np.abs(t) > f32(1e18), np.copysign(bound, values),
                      values / np.sqrt(f32(1) + t * t)).astype(f32)
imputed = np.where(np.isnan(values), f32(-7.0), values).astype(f32)
indicator = np.isnan(values).astype(f32)

edges = np.array([-10.0, -1.0, 0.0, 0.5, 0.5, 2.0, 1e7], dtype=f32)  # a repeated edge too
tie_values = np.concatenate([values, edges, np.nextafter(edges, f32(-np.inf))]).astype(f32)
buckets = 1 + np.searchsorted(edges, tie_values, side="right").astype(np.int64)
buckets[np.isnan(tie_values)] = 0


def fmix32(h):
    h = np.uint32(h)
    h ^= h >> np.uint32(16)
    h = np.uint32((int(h) * 0x85EBCA6B) & 0xFFFFFFFF)
    h ^= h >> np.uint32(13)
    h = np.uint32((int(h) * 0xC2B2AE35) & 0xFFFFFFFF)
    h ^= h >> np.uint32(16)
    return int(h)


codes = [-1, 0, 1, 2, 7, 100, 12345, 2**31 - 1] + [int(c) for c in rng.integers(0, 10**6, 50)]
seed, n_buckets = 0xC0FFEE, 1000
hashed = [0 if c < 0 else 1 + fmix32(((c * 0x9E3779B1) & 0xFFFFFFFF) ^ seed) % n_buckets for c in codes]

print(json.dumps({
    "values": bits(values),
    "signed_log1p": bits(signed_log1p),
    "clip": {"lo": float(lo), "hi": float(hi), "out": bits(clipped)},
    "smooth_clip": {"bound": float(bound), "out": bits(smooth)},
    "standardize": {"center": float(center), "inv_scale": float(inv_scale), "out": bits(standardized)},
    "impute": {"value": -7.0, "out": bits(imputed), "indicator": bits(indicator)},
    "bucketize": {"edges": bits(edges), "values": bits(tie_values), "out": [int(b) for b in buckets]},
    "hash": {"seed": seed, "buckets": n_buckets, "codes": codes, "out": hashed},
}, indent=1))
