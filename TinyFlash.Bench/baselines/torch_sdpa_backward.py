#!/usr/bin/env python3
"""PyTorch baselines for TinyFlash's attention backward (issue 7), on the grid of `TinyFlash.Bench training` and in its
JSON-lines schema.

For each head dim, sequence length and mask (16k tokens a batch, 2048 features of heads, fp16, bhsd), through each
requested scaled_dot_product_attention backend, records three variants with CUDA-event medians:
  forward                 the forward alone (TFLOP/s over 4·B·H·N²·d, halved if causal)
  backward                torch.autograd.grad of the output alone, the graph kept (2.5× the forward's FLOPs)
  train-step-dropout{p}   forward + backward with dropout_p = p (3.5×); a backend without dropout records the error
max_err is the largest absolute difference of dq, dk, dv from float64 autograd on a 200-token slice of the same kind.

Example:
  python3 torch_sdpa_backward.py --backends flash cudnn --out results.jsonl
"""
import argparse
import datetime
import json

import torch
import torch.nn.functional as F
from torch.nn.attention import SDPBackend, sdpa_kernel

from torch_sdpa import BACKENDS, DTYPES, time_ms  # same directory; its main() runs only as a script



def gradient_error(backend, dtype, head_dim, causal):
    """Largest |grad − float64 grad| over dq, dk, dv on a (1, 2, 200, d) call."""
    torch.manual_seed(1)
    q, k, v, do = (torch.randn((1, 2, 200, head_dim), device="cuda", dtype=dtype) for _ in range(4))
    with sdpa_kernel(backend):
        leaves = [t.clone().requires_grad_() for t in (q, k, v)]
        grads = torch.autograd.grad(F.scaled_dot_product_attention(*leaves, is_causal=causal), leaves, do)
    exact = [t.double().requires_grad_() for t in (q, k, v)]
    with sdpa_kernel(SDPBackend.MATH):
        expected = torch.autograd.grad(F.scaled_dot_product_attention(*exact, is_causal=causal), exact, do.double())
    return max((g.double() - e).abs().max().item() for g, e in zip(grads, expected))


def measure(dtype_name, head_dim, seq, tokens, causal, dropout, backends, out):
    dtype = DTYPES[dtype_name]
    batch, heads = max(1, tokens // seq), 2048 // head_dim
    flops = 4.0 * batch * heads * seq * seq * head_dim * (0.5 if causal else 1.0)
    device = torch.cuda.get_device_name()
    torch.manual_seed(0)
    q, k, v, do = (torch.randn((batch, heads, seq, head_dim), device="cuda", dtype=dtype) for _ in range(4))
    leaves = [t.clone().requires_grad_() for t in (q, k, v)]
    for name in backends:
        backend = BACKENDS[name]
        base = dict(impl=f"torch-{name}", device=device, dtype=dtype_name, head_dim=head_dim, causal=causal,
                    batch=batch, heads=heads, kv_heads=heads, seq_q=seq, seq_k=seq, window_left=-1, window_right=-1,
                    layout="bhsd", date=datetime.date.today().isoformat())
        try:
            error = gradient_error(backend, dtype, head_dim, causal)
        except RuntimeError as e:
            error = None
        for variant, factor in (("forward", 1.0), ("backward", 2.5), (f"train-step-dropout{dropout}", 3.5)):
            record = dict(base, variant=variant, max_err=error)
            try:
                with sdpa_kernel(backend):
                    if variant == "forward":
                        with torch.no_grad():
                            ms = time_ms(lambda: F.scaled_dot_product_attention(q, k, v, is_causal=causal))
                    elif variant == "backward":
                        o = F.scaled_dot_product_attention(*leaves, is_causal=causal)
                        ms = time_ms(lambda: torch.autograd.grad(o, leaves, do, retain_graph=True))
                        del o
                    else:
                        ms = time_ms(lambda: torch.autograd.grad(
                            F.scaled_dot_product_attention(*leaves, is_causal=causal, dropout_p=dropout), leaves, do))
                record.update(ms=ms, tflops=factor * flops / ms / 1e9)
            except RuntimeError as e:  # a backend refusing the shape or dropout, or running out of memory
                record.update(ms=None, tflops=None, error=str(e).splitlines()[0])
            print(json.dumps(record), flush=True)
            out.write(json.dumps(record) + "\n")
    del q, k, v, do, leaves
    torch.cuda.empty_cache()


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--dtype", default="float16", choices=DTYPES)
    parser.add_argument("--head-dims", type=int, nargs="+", default=[64, 128])
    parser.add_argument("--seqs", type=int, nargs="+", default=[1024, 2048, 4096, 8192, 16384])
    parser.add_argument("--tokens", type=int, default=16384)
    parser.add_argument("--dropout", type=float, default=0.1)
    parser.add_argument("--backends", nargs="+", default=["flash", "cudnn"], choices=BACKENDS)
    parser.add_argument("--out", required=True)
    args = parser.parse_args()
    with open(args.out, "a") as out:
        for head_dim in args.head_dims:
            for seq in args.seqs:
                for causal in (False, True):
                    measure(args.dtype, head_dim, seq, args.tokens, causal, args.dropout, args.backends, out)


if __name__ == "__main__":
    main()
