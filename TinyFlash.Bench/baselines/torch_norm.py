#!/usr/bin/env python3
"""PyTorch baselines for `TinyFlash.Bench postprocess`, same sizes and byte counts, same JSON-lines schema.

y = layer_norm(dropout(x + bias, p) + residual) eager and torch.compile'd (forward: x and residual read, y written;
backward: dy, x and residual read, dx and dresidual written), and rotary embeddings + QKV split written the way
Hugging Face's Llama does it (half-split), eager and compiled (the projection read, q, k and v written). Median of
CUDA-event timings after warm-up. Each record: impl, variant, device, dtype, rows, hidden, ms, tbps, date.

Example:
  python3 torch_norm.py --out norm.jsonl
"""
import argparse
import datetime
import json

import torch
import torch.nn.functional as F

from torch_sdpa import time_ms

DTYPES = {"float32": torch.float32, "float16": torch.float16, "bfloat16": torch.bfloat16}


def record(out, impl, variant, dtype, rows, hidden, ms, nbytes):
    r = dict(impl=impl, variant=variant, device=torch.cuda.get_device_name(), dtype=dtype, rows=rows, hidden=hidden,
             ms=ms, tbps=nbytes / ms / 1e9, date=datetime.date.today().isoformat())
    print(json.dumps(r), flush=True)
    out.write(json.dumps(r) + "\n")


def postprocess(x, residual, bias, gamma, beta, p):
    return F.layer_norm(F.dropout(x + bias, p) + residual, (x.shape[-1],), gamma, beta)


def rotary_split(qkv, cos, sin, hq, hkv, d):
    tokens = qkv.shape[0]
    q, k, v = qkv.view(tokens, hq + 2 * hkv, d).split([hq, hkv, hkv], dim=1)

    def rotate(t):
        half = d // 2
        return t * cos[:, None] + torch.cat((-t[..., half:], t[..., :half]), dim=-1) * sin[:, None]

    return rotate(q).transpose(0, 1).contiguous(), rotate(k).transpose(0, 1).contiguous(), v.transpose(0, 1).contiguous()


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--dtypes", nargs="+", choices=DTYPES, default=["float16", "float32"])
    parser.add_argument("--rows", type=int, default=16384)
    parser.add_argument("--hidden", type=int, default=4096)
    parser.add_argument("--dropout", type=float, default=0.1)
    parser.add_argument("--tokens", type=int, default=16384)
    parser.add_argument("--out", required=True)
    args = parser.parse_args()
    compiled = torch.compile(postprocess)
    compiled_rotary = torch.compile(rotary_split)
    with open(args.out, "a") as out:
        for name in args.dtypes:
            dtype, size = DTYPES[name], torch.finfo(DTYPES[name]).bits // 8
            n, h = args.rows, args.hidden
            x, residual, dy = (torch.randn(n, h, device="cuda", dtype=dtype) for _ in range(3))
            bias, beta = (torch.randn(h, device="cuda", dtype=dtype) for _ in range(2))
            gamma = 1 + torch.randn(h, device="cuda", dtype=dtype) / 4
            for impl, fn in (("torch-eager", postprocess), ("torch-compile", compiled)):
                record(out, impl, f"norm-forward-p{args.dropout}", name, n, h,
                       time_ms(lambda: fn(x, residual, bias, gamma, beta, args.dropout)), 3.0 * size * n * h)
                xg, rg = x.clone().requires_grad_(), residual.clone().requires_grad_()
                y = fn(xg, rg, bias, gamma, beta, args.dropout)
                record(out, impl, f"norm-backward-p{args.dropout}", name, n, h,
                       time_ms(lambda: torch.autograd.grad(y, (xg, rg), dy, retain_graph=True)), 5.0 * size * n * h)
            del x, residual, dy
            tokens, hq, hkv, d = args.tokens, 32, 8, 128
            qkv = torch.randn(tokens, (hq + 2 * hkv) * d, device="cuda", dtype=dtype)
            angles = torch.arange(tokens, device="cuda", dtype=torch.float32)[:, None] * (
                10000.0 ** (-torch.arange(0, d, 2, device="cuda", dtype=torch.float32) / d))[None, :]
            angles = torch.cat((angles, angles), dim=-1)
            cos, sin = angles.cos().to(dtype), angles.sin().to(dtype)
            for impl, fn in (("torch-eager", rotary_split), ("torch-compile", compiled_rotary)):
                record(out, impl, "rotary-qkv-split", name, tokens, (hq + 2 * hkv) * d,
                       time_ms(lambda: fn(qkv, cos, sin, hq, hkv, d)), 2.0 * size * qkv.numel())
            torch.cuda.empty_cache()


if __name__ == "__main__":
    main()
