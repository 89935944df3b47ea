#!/usr/bin/env bash
# Session 8 run 5 (2026-12-04): the tensor-core backward passes stream their tiles through two shared-memory stages
# (the next query tile, or key tile, loads during this one's math). ptxas of both passes with and without modifiers;
# the backward matrix on CUDA; the training grid at N 1024, 4096, 16384 beside PyTorch's flash and cuDNN in the same call.
set -u
top=$OUT; r=$OUT/r; mkdir -p $r
export DOTNET_BUNDLE_EXTRACT_BASE_DIR=$(mktemp -d)
nvidia-smi --query-gpu=name,driver_version,clocks.max.sm,clocks.max.mem --format=csv > $r/gpu.txt
for ptx in .gpu/*.ptx; do echo "== $ptx"; ptxas -arch=sm_90a -v "$ptx" -o /dev/null 2>&1 | grep -E "registers|spill|error" | head -6; done > $r/ptxas.txt 2>&1
timeout 100 .gpu/TinyFlash.Bench verify --backend cuda --backward > $r/verify-backward-cuda.txt 2>&1; echo "rc=$?" >> $r/verify-backward-cuda.txt
tar czf $top/all.tgz -C $r .
timeout 150 .gpu/TinyFlash.Bench training --backend cuda --seqs 1024 4096 16384 --out $r/training.jsonl > $r/training.txt 2>&1; echo "rc=$?" >> $r/training.txt
tar czf $top/all.tgz -C $r .
(cd TinyFlash.Bench/baselines && timeout 110 python3 torch_sdpa_backward.py --seqs 1024 4096 16384 --out $r/training.jsonl) >> $r/training.txt 2>&1; echo "torch rc=$?" >> $r/training.txt
tar czf $top/all.tgz -C $r .
