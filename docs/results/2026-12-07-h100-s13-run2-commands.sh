#!/usr/bin/env bash
# Session 13 run 2 (2026-12-07): D = rowsum(dO∘O) by threads of four consecutive features (run 1's Nsight Compute:
# the thread-a-row D took 1.33-1.35 ms of every d128 backward) and the passes back at one warpgroup a group (two did not
# help in run 1): the training grid beside PyTorch flash/cuDNN in the same call; Nsight Compute on one d128 N1024
# forward + backward without and with dropout; verify --backward.
set -u
top=$OUT; r=$OUT/r; mkdir -p $r
nvidia-smi --query-gpu=name,driver_version,clocks.max.sm,clocks.max.mem --format=csv > $r/gpu.txt
export PATH=$PATH:/usr/local/cuda/bin:$(ls -d /opt/nvidia/nsight-compute/*/ 2>/dev/null | head -1)
mkdir -p /tmp/new && tar xJf .gpu/rt.tar.xz -C /tmp/new
b=/tmp/new/TinyFlash.Bench
timeout 120 $b training --backend cuda --head-dims 128 64 --seqs 1024 4096 16384 --out $r/training.jsonl > $r/training.txt 2>&1; echo "rc=$?" >> $r/training.txt
tar czf $top/all.tgz -C $r .
(cd TinyFlash.Bench/baselines && timeout 70 python3 torch_sdpa_backward.py --head-dims 128 64 --seqs 1024 4096 16384 --out $r/torch-sdpa.jsonl) > $r/torch-sdpa.txt 2>&1
tar czf $top/all.tgz -C $r .
timeout 40 $b verify --backend cuda --backward > $r/verify-backward-cuda.txt 2>&1; echo "rc=$?" >> $r/verify-backward-cuda.txt
tar czf $top/all.tgz -C $r .
m=gpu__time_duration.sum,launch__grid_size,launch__block_size,launch__registers_per_thread,sm__throughput.avg.pct_of_peak_sustained_elapsed,lts__throughput.avg.pct_of_peak_sustained_elapsed,dram__throughput.avg.pct_of_peak_sustained_elapsed
timeout 30 ncu --metrics $m --csv $b training --backend cuda --head-dims 128 --seqs 1024 --once -o $r/once.jsonl > $r/ncu.csv 2>&1; echo "rc=$?" >> $r/ncu.csv
tar czf $top/all.tgz -C $r .
