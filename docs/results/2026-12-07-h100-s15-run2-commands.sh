#!/usr/bin/env bash
# Session 15 run 2 (2026-12-07): run 1's stream (8 bits an element, 16 a call, a call a lane per pair of tiles) with
# dropout's mask ANDed into the 16-bit packed P where it meets P·V and Pᵀ·dO (a prmt with sign replication widening two
# kept bits a register, 1/(1 - p) once on O and dV), bytes moved to kept bits by prmt. Dropout cases of both correctness
# matrices on CUDA, the training grid beside PyTorch flash/cuDNN in the same call, Nsight Compute on one d128 N1024 /
# N16384 forward + backward without and with dropout (run 1 ran the whole backward matrix on this stream; left out for
# device time).
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
tar czf $top/all.tgz -C $r .
