#!/usr/bin/env python3
"""PyTorch baselines for `TinyFlash.Bench sparse`, on the same shapes and masks, in the same JSON-lines schema.

Runs torch.compile'd flex_attention (PyTorch's FlexAttention) with block masks built from the same definitions:
causal sliding windows at --window-seq, the block-sparse mask TinyFlash dumped (blocks.u8: one byte per 128x128
block, 1 = visited, all full), and the packed batch as a document mask from TinyFlash's offsets (offsets.txt); and
scaled_dot_product_attention's flash backend on the dense shapes beside them. TFLOP/s count the visible (query, key)
pairs, as the C# side does. Each record: impl, variant, device, dtype, head_dim, causal, batch, heads, seq_q, seq_k,
ms, tflops, date.

Example:
  python3 torch_flex.py --dump /tmp/sparse --out flex.jsonl
"""
import argparse
import datetime
import json
import os

import numpy as np
import torch
import torch.nn.functional as F
from torch.nn.attention import SDPBackend, sdpa_kernel
from torch.nn.attention.flex_attention import create_block_mask, flex_attention

from torch_sdpa import time_ms

DTYPES = {"float16": torch.float16, "bfloat16": torch.bfloat16}


def record(out, impl, variant, dtype, heads, head_dim, seq, causal, ms, pairs):
    r = dict(impl=impl, variant=variant, device=torch.cuda.get_device_name(), dtype=dtype, head_dim=head_dim,
             causal=causal, batch=1, heads=heads, kv_heads=heads, seq_q=seq, seq_k=seq, layout="bhsd", ms=ms,
             tflops=4.0 * heads * head_dim * pairs / ms / 1e9, date=datetime.date.today().isoformat())
    print(json.dumps(r), flush=True)
    out.write(json.dumps(r) + "\n")


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--dtype", choices=DTYPES, default="float16")
    parser.add_argument("--heads", type=int, default=16)
    parser.add_argument("--head-dim", type=int, default=128)
    parser.add_argument("--window-seq", type=int, default=32768)
    parser.add_argument("--windows", nargs="+", type=int, default=[256, 1024, 4096])
    parser.add_argument("--sparse-seq", type=int, default=16384)
    parser.add_argument("--dump", required=True, help="the folder `TinyFlash.Bench sparse --dump` wrote")
    parser.add_argument("--out", required=True)
    args = parser.parse_args()
    dtype, h, d = DTYPES[args.dtype], args.heads, args.head_dim
    flex = torch.compile(flex_attention)

    def tensors(n):
        return [torch.randn((1, h, n, d), device="cuda", dtype=dtype) for _ in range(3)]

    with open(args.out, "a") as out:
        n = args.window_seq
        q, k, v = tensors(n)
        with sdpa_kernel(SDPBackend.FLASH_ATTENTION):
            record(out, "torch-flash", "dense-causal", args.dtype, h, d, n, True,
                   time_ms(lambda: F.scaled_dot_product_attention(q, k, v, is_causal=True)), n * (n + 1) / 2)
        for w in args.windows:
            mask = create_block_mask(lambda b, hh, qi, kj, w=w: (qi >= kj) & (qi - kj < w), None, None, n, n)
            record(out, "torch-flex", f"window-{w}", args.dtype, h, d, n, True,
                   time_ms(lambda: flex(q, k, v, block_mask=mask)), n * w - w * (w - 1) / 2)
        del q, k, v

        s = args.sparse_seq
        blocks = torch.from_numpy(np.fromfile(os.path.join(args.dump, "blocks.u8"), dtype=np.uint8)).cuda()
        nb = (s + 127) // 128
        blocks = blocks.view(nb, nb).bool()
        q, k, v = tensors(s)
        with sdpa_kernel(SDPBackend.FLASH_ATTENTION):
            record(out, "torch-flash", "dense", args.dtype, h, d, s, False,
                   time_ms(lambda: F.scaled_dot_product_attention(q, k, v)), s * s)
        mask = create_block_mask(lambda b, hh, qi, kj: blocks[qi // 128, kj // 128], None, None, s, s)
        density = blocks.float().mean().item()
        record(out, "torch-flex", f"block-sparse-{density:.2g}", args.dtype, h, d, s, False,
               time_ms(lambda: flex(q, k, v, block_mask=mask)), blocks.sum().item() * 128 * 128)
        del q, k, v

        offsets = [int(x) for x in open(os.path.join(args.dump, "offsets.txt")).read().split()]
        total = offsets[-1]
        document = torch.zeros(total, dtype=torch.int32, device="cuda")
        for i in range(1, len(offsets) - 1):
            document[offsets[i]:] += 1
        q, k, v = tensors(total)
        mask = create_block_mask(lambda b, hh, qi, kj: document[qi] == document[kj], None, None, total, total)
        pairs = sum((offsets[i + 1] - offsets[i]) ** 2 for i in range(len(offsets) - 1))
        record(out, "torch-flex", f"packed-{len(offsets) - 1}", args.dtype, h, d, total, False,
               time_ms(lambda: flex(q, k, v, block_mask=mask)), pairs)
        mean = total // (len(offsets) - 1)
        q, k, v = tensors(mean)
        with sdpa_kernel(SDPBackend.FLASH_ATTENTION):
            record(out, "torch-flash", "dense-mean-length", args.dtype, h, d, mean, False,
                   time_ms(lambda: F.scaled_dot_product_attention(q, k, v)), mean * mean)


if __name__ == "__main__":
    main()
