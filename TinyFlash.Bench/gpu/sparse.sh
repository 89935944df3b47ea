#!/usr/bin/env bash
# Issue 5 on the GPU machine: `verify` on CUDA (the matrix covers packed sequences, softcap, ALiBi, masks and block-sparse
# masks), then `TinyFlash.Bench sparse` (sliding windows, a 10% block-sparse mask and a packed batch, each beside the
# dense kernel) and baselines/torch_flex.py on the same masks (FlexAttention, compiled), results under $OUT.
set -u
source "$(dirname "$0")/common.sh"
check_kernels
$bench sparse --backend cuda --dump /tmp/sparse --out "$out/sparse.jsonl" > "$out/sparse.txt" 2>&1
(cd TinyFlash.Bench/baselines && python3 torch_flex.py --dump /tmp/sparse --out "$out/sparse.jsonl") >> "$out/sparse.txt" 2>&1
