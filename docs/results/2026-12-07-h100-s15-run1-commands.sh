#!/usr/bin/env bash
# Session 15 run 1 (2026-12-07): attention dropout at 8 bits an element, 16 a Philox call: the two neighbouring lanes of
# an mma fragment split two tiles' calls and swap halves by one shuffle (half the calls of session 14 in the forward, the
# key-block pass and the dq pass), and the kernels draw the kept bits while the score products run. Dropout cases of both
# correctness matrices on CUDA first, then the training grid beside PyTorch flash/cuDNN in the same call, Nsight
# Compute on one d128 N1024 / N16384 forward + backward without and with dropout, and the whole backward matrix.
set -u
top=$OUT; r=$OUT/r; mkdir -p $r
nvidia-smi --query-gpu=name,driver_version,clocks.max.sm,clocks.max.mem --format=csv > $r/gpu.txt
export PATH=$PATH:/usr/local/cuda/bin:$(ls -d /opt/nvidia/nsight-compute/*/ 2>/dev/null | head -1)
mkdir -p /tmp/new && tar xJf .gpu/rt.tar.xz -C /tmp/new
b=/tmp/new/TinyFlash.Bench
timeout 60 $b verify --backend cuda --filter dropout > $r/verify-dropout-cuda.txt 2>&1; echo "rc=$?" >> $r/verify-dropout-cuda.txt
timeout 60 $b verify --backend cuda --backward --filter dropout > $r/verify-backward-dropout-cuda.txt 2>&1; echo "rc=$?" >> $r/verify-backward-dropout-cuda.txt
tar czf $top/all.tgz -C $r .
timeout 150 $b training --backend cuda --head-dims 128 64 --seqs 1024 4096 16384 --out $r/training.jsonl > $r/training.txt 2>&1; echo "rc=$?" >> $r/training.txt
tar czf $top/all.tgz -C $r .
(cd TinyFlash.Bench/baselines && timeout 80 python3 torch_sdpa_backward.py --head-dims 128 64 --seqs 1024 4096 16384 --out $r/torch-sdpa.jsonl) > $r/torch-sdpa.txt 2>&1
tar czf $top/all.tgz -C $r .
m=gpu__time_duration.sum,launch__grid_size,launch__block_size,launch__registers_per_thread,sm__throughput.avg.pct_of_peak_sustained_elapsed,lts__throughput.avg.pct_of_peak_sustained_elapsed,sm__inst_executed.sum
timeout 60 ncu --metrics $m --csv $b training --backend cuda --head-dims 128 --seqs 1024 16384 --once -o $r/once.jsonl > $r/ncu.csv 2>&1; echo "rc=$?" >> $r/ncu.csv
tar czf $top/all.tgz -C $r .
timeout 100 $b verify --backend cuda --backward > $r/verify-backward-cuda.txt 2>&1; echo "rc=$?" >> $r/verify-backward-cuda.txt
tar czf $top/all.tgz -C $r .
