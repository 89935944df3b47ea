#!/usr/bin/env python3
"""PyTorch baselines for TinyFlash, on the same shapes and in the same JSON-lines schema as TinyFlash.Bench.

Times torch.nn.functional.scaled_dot_product_attention through each requested backend (flash, cudnn,
efficient, math) with CUDA events (median of timed calls after warm-up) and records, per shape and backend:
impl, device, dtype, head_dim, causal, batch, heads, kv_heads, seq_q, seq_k, window_left, window_right,
layout, ms, tflops, max_err, date. max_err is the largest absolute difference from a float64 computation
on the first batch element's first two heads. A backend that refuses a shape is recorded with ms = null
and the error text.

With --grid it runs the grid of `TinyFlash.Bench sweep`; with --decode the decode grid of `TinyFlash.Bench decode`; with --compare FOLDER it reads the inputs and outputs
that `sweep --dump FOLDER` wrote and records the max error, against PyTorch's fp32 math backend on those identical
inputs, of TinyFlash's output and of each PyTorch backend's.

Example:
  python3 torch_sdpa.py --dtype float16 --head-dim 128 --seq 4096 --batch 4 --heads 16 --causal \
      --backends flash cudnn efficient --out results.jsonl
"""
import argparse
import datetime
import json
import math
import os

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


def reference(q, k, v, causal, rows=256):
    """float64 attention for the last `rows` queries of the first batch element's first two heads (bottom-right
    causal like TinyFlash); a subset, so that long sequences fit beside the timed tensors."""
    q, k, v = (t[:1, :2].double() for t in (q, k, v))
    seq_q, seq_k = q.shape[-2], k.shape[-2]
    first = max(0, seq_q - rows)
    scores = q[:, :, first:] @ k.transpose(-1, -2) / math.sqrt(q.shape[-1])
    if causal:
        i = torch.arange(first, seq_q, device=q.device)[:, None]
        j = torch.arange(seq_k, device=q.device)[None, :]
        scores = scores.masked_fill(j > i + seq_k - seq_q, float("-inf"))
    return first, torch.softmax(scores, dim=-1) @ v


def measure(dtype_name, head_dim, seq, batch, heads, causal, backends, out):
    """Times every backend on one shape; appends one record per backend to the open file out."""
    torch.manual_seed(0)
    dtype = DTYPES[dtype_name]
    shape = (batch, heads, seq, head_dim)
    q, k, v = (torch.randn(shape, device="cuda", dtype=dtype) for _ in range(3))
    first, expected = reference(q, k, v, causal)
    device = torch.cuda.get_device_name()
    for name in backends:
        record = dict(impl=f"torch-{name}", device=device, dtype=dtype_name, head_dim=head_dim,
                      causal=causal, batch=batch, heads=heads, kv_heads=heads,
                      seq_q=seq, seq_k=seq, window_left=-1, window_right=-1, layout="bhsd",
                      date=datetime.date.today().isoformat())
        try:
            with sdpa_kernel(BACKENDS[name]):
                run = lambda: F.scaled_dot_product_attention(q, k, v, is_causal=causal)
                ms = time_ms(run)
                err = (run()[:1, :2, first:].double() - expected).abs().max().item()
            record.update(ms=ms, tflops=flops(batch, heads, seq, seq, head_dim, causal) / ms / 1e9, max_err=err)
        except RuntimeError as error:  # a backend refusing the shape, or running out of memory
            record.update(ms=None, tflops=None, max_err=None, error=str(error).splitlines()[0])
        print(json.dumps(record), flush=True)
        out.write(json.dumps(record) + "\n")
    del q, k, v, expected
    torch.cuda.empty_cache()


def decode(dtype_name, head_dim, heads, kv_heads, queries, batches, keys, backends, out):
    """Decode: `queries` new positions against a key/value cache of each length in `keys` for each batch size, through
    each backend with enable_gqa (the key/value heads are read once, not expanded). Records ms, TB/s of K and V read
    (2*B*Hkv*Sk*d*bytes) and TFLOP/s, in the schema of TinyFlash.Bench decode."""
    dtype = DTYPES[dtype_name]
    device = torch.cuda.get_device_name()
    for batch in batches:
        for seq_k in keys:
            torch.manual_seed(0)
            q = torch.randn((batch, heads, queries, head_dim), device="cuda", dtype=dtype)
            k, v = (torch.randn((batch, kv_heads, seq_k, head_dim), device="cuda", dtype=dtype) for _ in range(2))
            expected = F.scaled_dot_product_attention(q[:1].double(), k[:1].double().repeat_interleave(heads // kv_heads, 1),
                                                      v[:1].double().repeat_interleave(heads // kv_heads, 1))
            for name in backends:
                record = dict(impl=f"torch-{name}", device=device, dtype=dtype_name, head_dim=head_dim, causal=True,
                              batch=batch, heads=heads, kv_heads=kv_heads, seq_q=queries, seq_k=seq_k, window_left=-1,
                              window_right=-1, layout="bhsd", date=datetime.date.today().isoformat())
                try:
                    with sdpa_kernel(BACKENDS[name]):
                        # One query position sees every key of the cache: causal and no mask are the same here.
                        run = lambda: F.scaled_dot_product_attention(q, k, v, enable_gqa=True)
                        ms = time_ms(run, warmup=5, repeat=50)
                        err = (run()[:1].double() - expected).abs().max().item()
                    bytes_kv = 2.0 * batch * kv_heads * seq_k * head_dim * q.element_size()
                    record.update(ms=ms, tbps=bytes_kv / ms / 1e9,
                                  tflops=flops(batch, heads, queries, seq_k, head_dim, False) / ms / 1e9, max_err=err)
                except RuntimeError as error:
                    record.update(ms=None, tflops=None, max_err=None, error=str(error).splitlines()[0])
                print(json.dumps(record), flush=True)
                out.write(json.dumps(record) + "\n")
            del q, k, v, expected
            torch.cuda.empty_cache()


def compare(folder, out):
    """For every shape TinyFlash dumped (sweep --dump), the max error against PyTorch's fp32 math backend of
    TinyFlash's output and of each PyTorch backend's output on the identical inputs."""
    import glob
    import numpy as np
    device = torch.cuda.get_device_name()
    for header in sorted(glob.glob(os.path.join(folder, "*.json"))):
        meta = json.load(open(header))
        base = header[:-len(".json")]
        dtype = DTYPES[meta["dtype"]]
        b, h, n, d = meta["batch"], meta["heads"], meta["seq"], meta["head_dim"]
        dims = (b, h, n, d) if meta["layout"] == "bhsd" else (b, n, h, d)

        def load(suffix, element):
            raw = torch.from_numpy(np.fromfile(base + suffix, dtype=element).copy())
            t = raw.view(torch.bfloat16) if meta["dtype"] == "bfloat16" and element == np.int16 else raw
            t = t.view(torch.float16) if meta["dtype"] == "float16" and element == np.int16 else t
            t = t.reshape(dims).cuda()
            return t if meta["layout"] == "bhsd" else t.transpose(1, 2)

        q, k, v = (load(f".{x}.bin", np.int16) for x in "qkv")
        tinyflash = load(".out.bin", np.float32)
        with sdpa_kernel(SDPBackend.MATH):
            exact = F.scaled_dot_product_attention(q.float(), k.float(), v.float(), is_causal=meta["causal"])
        results = {"tinyflash": (tinyflash - exact).abs().max().item()}
        for name in ("flash", "cudnn", "efficient"):
            try:
                with sdpa_kernel(BACKENDS[name]):
                    results[f"torch-{name}"] = (F.scaled_dot_product_attention(q, k, v, is_causal=meta["causal"]).float()
                                                - exact).abs().max().item()
            except RuntimeError:
                pass
        for impl, err in results.items():
            record = dict(impl=impl, device=device, dtype=meta["dtype"], head_dim=d, causal=meta["causal"], batch=b,
                          heads=h, kv_heads=h, seq_q=n, seq_k=n, layout=meta["layout"], reference="torch-math-fp32",
                          max_err=err, date=datetime.date.today().isoformat())
            print(json.dumps(record), flush=True)
            out.write(json.dumps(record) + "\n")


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--dtype", choices=DTYPES, default="float16")
    parser.add_argument("--head-dim", type=int, default=128)
    parser.add_argument("--seq", type=int, default=4096)
    parser.add_argument("--batch", type=int, default=4)
    parser.add_argument("--heads", type=int, default=16)
    parser.add_argument("--causal", action="store_true")
    parser.add_argument("--grid", action="store_true",
                        help="run the grid of TinyFlash.Bench sweep instead of one shape (--dtypes, --head-dims, --seqs, "
                             "both masks, batch = max(1, tokens / N), heads = width / d)")
    parser.add_argument("--dtypes", nargs="+", choices=DTYPES, default=["float16", "bfloat16"])
    parser.add_argument("--head-dims", nargs="+", type=int, default=[64, 128])
    parser.add_argument("--seqs", nargs="+", type=int, default=[512, 1024, 2048, 4096, 8192, 16384, 32768, 65536])
    parser.add_argument("--tokens", type=int, default=16384)
    parser.add_argument("--width", type=int, default=2048)
    parser.add_argument("--backends", nargs="+", choices=BACKENDS, default=["flash", "cudnn", "efficient"])
    parser.add_argument("--compare", metavar="FOLDER", help="compare outputs on the inputs TinyFlash dumped (sweep --dump)")
    parser.add_argument("--decode", action="store_true",
                        help="decode instead: --queries new positions, --heads query heads over --kv-heads, for each of "
                             "--batches and --keys (cache lengths), with enable_gqa")
    parser.add_argument("--kv-heads", type=int, default=8)
    parser.add_argument("--queries", type=int, default=1)
    parser.add_argument("--batches", nargs="+", type=int, default=[1, 8])
    parser.add_argument("--keys", nargs="+", type=int, default=[4096, 32768])
    parser.add_argument("--out", required=True, help="JSON-lines file to append to")
    args = parser.parse_args()

    with open(args.out, "a") as out:
        if args.compare:
            compare(args.compare, out)
        elif args.decode:
            decode(args.dtype, args.head_dim, args.heads, args.kv_heads, args.queries, args.batches, args.keys,
                   [b for b in args.backends if b != "math"], out)
        elif args.grid:
            for dtype in args.dtypes:
                for d in args.head_dims:
                    for causal in (False, True):
                        for n in args.seqs:
                            measure(dtype, d, n, max(1, args.tokens // n), args.width // d, causal, args.backends, out)
        else:
            measure(args.dtype, args.head_dim, args.seq, args.batch, args.heads, args.causal, args.backends, out)


if __name__ == "__main__":
    main()
