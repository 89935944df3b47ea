#!/usr/bin/env python3
"""PyTorch baselines for TinyFlash, on the same shapes and in the same JSON-lines schema as TinyFlash.Bench.

Times torch.nn.functional.scaled_dot_product_attention through each requested backend (flash, cudnn,
efficient, math) with CUDA events (median of timed calls after warm-up) and records, per shape and backend:
impl, device, dtype, head_dim, causal, batch, heads, kv_heads, seq_q, seq_k, window_left, window_right,
layout, ms, tflops, max_err, date. max_err is the largest absolute difference from a float64 computation
on the first batch element's first two heads. A backend that refuses a shape is recorded with ms = null
and the error text.

Example:
  python3 torch_sdpa.py --dtype float16 --head-dim 128 --seq 4096 --batch 4 --heads 16 --causal \
      --backends flash cudnn efficient --out results.jsonl
"""
import argparse
import datetime
import json
import math

import torch
import torch.nn.functional as F
from torch.nn.attention import SDPBackend, sdpa_kernel

BACKENDS = {
    "flash": SDPBackend.FLASH_ATTENTION,
    "cudnn": SDPBackend.CUDNN_ATTENTION,
    "efficient": SDPBackend.EFFICIENT_ATTENTION,
    "math": SDPBackend.MATH,
}
DTYPES = {"float32": torch.float32, "float16": torch.float16, "bfloat16": torch.bfloat16}


def flops(batch, heads, seq_q, seq_k, head_dim, causal):
    return 4.0 * batch * heads * seq_q * seq_k * head_dim * (0.5 if causal else 1.0)


def time_ms(fn, warmup=3, repeat=20):
    for _ in range(warmup):
        fn()
    torch.cuda.synchronize()
    times = []
    for _ in range(repeat):
        start, end = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
        start.record()
        fn()
        end.record()
        torch.cuda.synchronize()
        times.append(start.elapsed_time(end))
    times.sort()
    return times[len(times) // 2]


def reference(q, k, v, causal):
    """float64 attention on the first batch element's first two heads, bottom-right causal like TinyFlash."""
    q, k, v = (t[:1, :2].double() for t in (q, k, v))
    scores = q @ k.transpose(-1, -2) / math.sqrt(q.shape[-1])
    if causal:
        seq_q, seq_k = q.shape[-2], k.shape[-2]
        i = torch.arange(seq_q, device=q.device)[:, None]
        j = torch.arange(seq_k, device=q.device)[None, :]
        scores = scores.masked_fill(j > i + seq_k - seq_q, float("-inf"))
    return torch.softmax(scores, dim=-1) @ v


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--dtype", choices=DTYPES, default="float16")
    parser.add_argument("--head-dim", type=int, default=128)
    parser.add_argument("--seq", type=int, default=4096)
    parser.add_argument("--batch", type=int, default=4)
    parser.add_argument("--heads", type=int, default=16)
    parser.add_argument("--causal", action="store_true")
    parser.add_argument("--backends", nargs="+", choices=BACKENDS, default=["flash", "cudnn", "efficient"])
    parser.add_argument("--out", required=True, help="JSON-lines file to append to")
    args = parser.parse_args()

    torch.manual_seed(0)
    dtype = DTYPES[args.dtype]
    shape = (args.batch, args.heads, args.seq, args.head_dim)
    q, k, v = (torch.randn(shape, device="cuda", dtype=dtype) for _ in range(3))
    expected = reference(q, k, v, args.causal)
    device = torch.cuda.get_device_name()
    with open(args.out, "a") as out:
        for name in args.backends:
            record = dict(impl=f"torch-{name}", device=device, dtype=args.dtype, head_dim=args.head_dim,
                          causal=args.causal, batch=args.batch, heads=args.heads, kv_heads=args.heads,
                          seq_q=args.seq, seq_k=args.seq, window_left=-1, window_right=-1, layout="bhsd",
                          date=datetime.date.today().isoformat())
            try:
                with sdpa_kernel(BACKENDS[name]):
                    run = lambda: F.scaled_dot_product_attention(q, k, v, is_causal=args.causal)
                    ms = time_ms(run)
                    err = (run()[:1, :2].double() - expected).abs().max().item()
                record.update(ms=ms, tflops=flops(args.batch, args.heads, args.seq, args.seq, args.head_dim, args.causal) / ms / 1e9,
                              max_err=err)
            except RuntimeError as error:
                record.update(ms=None, tflops=None, max_err=None, error=str(error).splitlines()[0])
            print(json.dumps(record), flush=True)
            out.write(json.dumps(record) + "\n")


if __name__ == "__main__":
    main()
