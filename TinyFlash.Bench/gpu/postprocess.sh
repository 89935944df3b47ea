#!/usr/bin/env bash
# Issue 6 on the GPU machine: `verify` on CUDA (attention's matrix and the norm's, `verify --norm`), then `TinyFlash.Bench postprocess` (fused norm forward and backward,
# rotary + QKV split, with bandwidth) and baselines/torch_norm.py on the same sizes (eager and torch.compile), under $OUT.
set -u
source "$(dirname "$0")/common.sh"
check_kernels
$bench verify --norm --backend cuda > "$out/verify-norm-cuda.txt" 2>&1; echo "verify --norm rc=$?" >> "$out/verify-norm-cuda.txt"
$bench postprocess --backend cuda --out "$out/postprocess.jsonl" > "$out/postprocess.txt" 2>&1
(cd TinyFlash.Bench/baselines && python3 torch_norm.py --out "$out/postprocess.jsonl") >> "$out/postprocess.txt" 2>&1
