#!/usr/bin/env bash
# Session 13 run 1 (2026-12-07): the warpgroup backward passes with two warpgroups a group (each streamed tile read
# by both: half the L2 traffic of a pass) against one, on the training grid, beside PyTorch flash/cuDNN in the same
# call; Nsight Compute per kernel (time, registers, occupancy, L2 and tensor pipe) on one forward + backward without
# and with dropout (training --once); verify --backward on CUDA.
set -u
top=$OUT; r=$OUT/r; mkdir -p $r
nvidia-smi --query-gpu=name,driver_version,clocks.max.sm,clocks.max.mem --format=csv > $r/gpu.txt
export PATH=$PATH:/usr/local/cuda/bin:$(ls -d /opt/nvidia/nsight-compute/*/ 2>/dev/null | head -1)
mkdir -p /tmp/new && tar xJf .gpu/rt.tar.xz -C /tmp/new
b=/tmp/new/TinyFlash.Bench
timeout 130 $b training --backend cuda --head-dims 128 64 --seqs 1024 4096 16384 --out $r/training-w2.jsonl > $r/training-w2.txt 2>&1; echo "rc=$?" >> $r/training-w2.txt
tar czf $top/all.tgz -C $r .
timeout 110 $b training --backend cuda --head-dims 128 64 --seqs 1024 4096 16384 --backward-warpgroups 1 --out $r/training-w1.jsonl > $r/training-w1.txt 2>&1; echo "rc=$?" >> $r/training-w1.txt
tar czf $top/all.tgz -C $r .
(cd TinyFlash.Bench/baselines && timeout 80 python3 torch_sdpa_backward.py --head-dims 128 64 --seqs 1024 4096 16384 --out $r/torch-sdpa.jsonl) > $r/torch-sdpa.txt 2>&1
tar czf $top/all.tgz -C $r .
m=gpu__time_duration.sum,launch__grid_size,launch__block_size,launch__registers_per_thread,launch__occupancy_limit_registers,launch__occupancy_limit_shared_mem,sm__warps_active.avg.pct_of_peak_sustained_active,sm__throughput.avg.pct_of_peak_sustained_elapsed,sm__pipe_tensor_op_gmma_cycles_active.avg.pct_of_peak_sustained_active,lts__throughput.avg.pct_of_peak_sustained_elapsed,lts__t_bytes.sum,dram__bytes_read.sum
for w in 2 1; do
timeout 60 ncu --metrics $m --csv $b training --backend cuda --head-dims 128 64 --seqs 1024 16384 --once --backward-warpgroups $w -o $r/once.jsonl > $r/ncu-w$w.csv 2>&1; echo "rc=$?" >> $r/ncu-w$w.csv
tar czf $top/all.tgz -C $r .
done
timeout 70 $b verify --backend cuda --backward > $r/verify-backward-cuda.txt 2>&1; echo "rc=$?" >> $r/verify-backward-cuda.txt
tar czf $top/all.tgz -C $r .
