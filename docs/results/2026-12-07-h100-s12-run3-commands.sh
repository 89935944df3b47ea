#!/usr/bin/env bash
# Session 12 run 3 (2026-12-07), the backward's D a thread a row (was one busy lane a warp): the training grid (d128
# and d64, N 1024/4096/16384, causal and not) beside PyTorch flash/cuDNN in the same call; verify --backward on CUDA.
set -u
top=$OUT; r=$OUT/r; mkdir -p $r
nvidia-smi --query-gpu=name,driver_version,clocks.max.sm,clocks.max.mem --format=csv > $r/gpu.txt
mkdir -p /tmp/new && tar xJf .gpu/rt.tar.xz -C /tmp/new
b=/tmp/new/TinyFlash.Bench
timeout 150 $b training --backend cuda --head-dims 128 64 --seqs 1024 4096 16384 --out $r/training.jsonl > $r/training.txt 2>&1; echo "rc=$?" >> $r/training.txt
tar czf $top/all.tgz -C $r .
(cd TinyFlash.Bench/baselines && timeout 90 python3 torch_sdpa_backward.py --head-dims 128 64 --seqs 1024 4096 16384 --out $r/torch-sdpa.jsonl) > $r/torch-sdpa.txt 2>&1
tar czf $top/all.tgz -C $r .
timeout 80 $b verify --backend cuda --backward > $r/verify-backward-cuda.txt 2>&1; echo "rc=$?" >> $r/verify-backward-cuda.txt
tar czf $top/all.tgz -C $r .
