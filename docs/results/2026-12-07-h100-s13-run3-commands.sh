#!/usr/bin/env bash
# Session 13 run 3 (2026-12-07), the same warm H200 right after run 2, the session's last 110 s of device time: the
# shape run 2's grid did not reach (d64 N16384 causal; it timed out in its 35 s, JIT and check included, so no record)
# and more of verify --backward (16 cases in 55 s, all passing).
set -u; r=$OUT/r; mkdir -p $r; mkdir -p /tmp/new && tar xJf .gpu/rt.tar.xz -C /tmp/new; b=/tmp/new/TinyFlash.Bench; nvidia-smi --query-gpu=name --format=csv > $r/gpu.txt; timeout 35 $b training --backend cuda --head-dims 64 --seqs 16384 --out $r/training.jsonl > $r/training.txt 2>&1; echo "rc=$?" >> $r/training.txt; timeout 55 $b verify --backend cuda --backward > $r/verify-backward-cuda.txt 2>&1; echo "rc=$?" >> $r/verify-backward-cuda.txt
