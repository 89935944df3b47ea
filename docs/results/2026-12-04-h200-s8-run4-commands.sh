#!/usr/bin/env bash
# Session 8 run 4 (2026-12-04): on tensor cores dq always takes its own pass (the key-block pass lost its dS tile and
# atomic dq). ptxas of both tensor-core backward passes with modifiers; the backward matrix on CUDA; the training grid
# (fp16, bhsd, 16k tokens) beside PyTorch's flash and cuDNN in the same call.
set -u
top=$OUT; r=$OUT/r; mkdir -p $r
export DOTNET_BUNDLE_EXTRACT_BASE_DIR=$(mktemp -d)
nvidia-smi --query-gpu=name,driver_version,clocks.max.sm,clocks.max.mem --format=csv > $r/gpu.txt
for ptx in .gpu/*.ptx; do echo "== $ptx"; ptxas -arch=sm_90a -v "$ptx" -o /dev/null 2>&1 | grep -E "registers|spill|error" | head -6; done > $r/ptxas.txt 2>&1
timeout 110 .gpu/TinyFlash.Bench verify --backend cuda --backward > $r/verify-backward-cuda.txt 2>&1; echo "rc=$?" >> $r/verify-backward-cuda.txt
tar czf $top/all.tgz -C $r .
timeout 220 .gpu/TinyFlash.Bench training --backend cuda --out $r/training.jsonl > $r/training.txt 2>&1; echo "rc=$?" >> $r/training.txt
tar czf $top/all.tgz -C $r .
(cd TinyFlash.Bench/baselines && timeout 140 python3 torch_sdpa_backward.py --out $r/training.jsonl) >> $r/training.txt 2>&1; echo "torch rc=$?" >> $r/training.txt
tar czf $top/all.tgz -C $r .
