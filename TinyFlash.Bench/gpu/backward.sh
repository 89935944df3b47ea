#!/usr/bin/env bash
# Issue 7 on the GPU machine: the forward and backward correctness matrices on CUDA, then `TinyFlash.Bench training`
# (forward, backward, training step with dropout) and baselines/torch_sdpa_backward.py on the same grid, under $OUT.
set -u
source "$(dirname "$0")/common.sh"
check_kernels
$bench verify --backend cuda --backward > "$out/verify-backward-cuda.txt" 2>&1; echo "verify --backward rc=$?" >> "$out/verify-backward-cuda.txt"
$bench training --backend cuda --out "$out/training.jsonl" > "$out/training.txt" 2>&1
(cd TinyFlash.Bench/baselines && python3 torch_sdpa_backward.py --out "$out/training.jsonl") >> "$out/training.txt" 2>&1
