#!/usr/bin/env bash
# Session 7 run 1 (2026-12-03): attention dropout drawn as 16-bit halves laid out for mma fragments (one Philox call per
# eight elements of a lane, round keys as kernel parameters; the transposed backward draws row-major and shuffles kept
# bits): ptxas, the backward and dropout correctness matrices on CUDA, the training grid beside PyTorch in the same call.
set -u
top=$OUT; r=$OUT/r; mkdir -p $r
export DOTNET_BUNDLE_EXTRACT_BASE_DIR=$(mktemp -d)
for ptx in .gpu/*.ptx; do echo "== $ptx"; ptxas -arch=sm_90a -v "$ptx" -o /dev/null 2>&1 | grep -E "registers|spill|error" | head -6; done > $r/ptxas.txt 2>&1
nvidia-smi --query-gpu=name,driver_version,clocks.max.sm,clocks.max.mem --format=csv > $r/gpu.txt
timeout 110 .gpu/TinyFlash.Bench verify --backend cuda --backward > $r/verify-backward-cuda.txt 2>&1; echo "rc=$?" >> $r/verify-backward-cuda.txt
timeout 60 .gpu/TinyFlash.Bench verify --backend cuda --filter "dropout" > $r/verify-dropout-cuda.txt 2>&1; echo "rc=$?" >> $r/verify-dropout-cuda.txt
tar czf $top/all.tgz -C $r .
timeout 230 .gpu/TinyFlash.Bench training --backend cuda --out $r/training.jsonl > $r/training.txt 2>&1; echo "rc=$?" >> $r/training.txt
tar czf $top/all.tgz -C $r .
(cd TinyFlash.Bench/baselines && timeout 150 python3 torch_sdpa_backward.py --out $r/training.jsonl) >> $r/training.txt 2>&1; echo "torch rc=$?" >> $r/training.txt
tar czf $top/all.tgz -C $r .
