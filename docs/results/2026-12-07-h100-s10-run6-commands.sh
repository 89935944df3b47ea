#!/usr/bin/env bash
# Session 10 run 6 (2026-12-07): issue 7's d128 training shapes on the H100 with the tensor-core backward's two stages
# (session 8 verified them on the H200 but never timed d128), PyTorch flash and cuDNN in the same call.
set -u
top=$OUT; r=$OUT/r; mkdir -p $r
nvidia-smi --query-gpu=name,driver_version,clocks.max.sm,clocks.max.mem --format=csv > $r/gpu.txt
mkdir -p /tmp/new && tar xJf .gpu/rt.tar.xz -C /tmp/new
timeout 230 /tmp/new/TinyFlash.Bench training --backend cuda --head-dims 128 --seqs 4096 16384 --out $r/training-d128.jsonl > $r/training-d128.txt 2>&1; echo "rc=$?" >> $r/training-d128.txt
tar czf $top/all.tgz -C $r .
(cd TinyFlash.Bench/baselines && timeout 80 python3 torch_sdpa_backward.py --head-dims 128 --seqs 4096 16384 --out $r/training-d128.jsonl) >> $r/training-d128.txt 2>&1; echo "torch rc=$?" >> $r/training-d128.txt
tar czf $top/all.tgz -C $r .
