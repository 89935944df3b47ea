#!/usr/bin/env bash
# Session 12 run 4 (2026-12-07): where the d128 backward's time goes at 16384 tokens x 16 heads: Nsight Compute's
# duration of every kernel of one forward and one backward (training --once: D, the dq pass, the key-block pass),
# N 1024 and 16384, full mask.
set -u
top=$OUT; r=$OUT/r; mkdir -p $r
export PATH=$PATH:$(ls -d /opt/nvidia/nsight-compute/*/ 2>/dev/null | tail -1)
mkdir -p /tmp/new && tar xJf .gpu/rt.tar.xz -C /tmp/new
timeout 75 ncu --metrics gpu__time_duration.sum,launch__grid_size,launch__block_size,launch__registers_per_thread,launch__occupancy_limit_registers,launch__occupancy_limit_shared_mem,sm__warps_active.avg.pct_of_peak_sustained_active --csv /tmp/new/TinyFlash.Bench training --backend cuda --head-dims 128 --seqs 1024 16384 --once --out /tmp/x.jsonl > $r/ncu-once.csv 2>&1; echo "rc=$?" >> $r/ncu-once.csv
tar czf $top/all.tgz -C $r .
