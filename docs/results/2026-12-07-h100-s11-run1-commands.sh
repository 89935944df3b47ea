#!/usr/bin/env bash
# Session 11 run 1 (2026-12-07): the norm reductions' warp index and warp count by shifts (no division a row) and the
# backward's row statistics streamed through the stages with cp.async (new), and new with the Philox round keys read
# from the parameters in the backward (alt), against 0b3d7b5 (prev), all three with new's TinyFlash.Bench (which also times each kernel by CUDA events, as
# the PyTorch baselines do): ptxas and SASS opcode counts; the fp16 backward
# three processes each, in turn, each on three placements of its tensors
# (postprocess --placements 3); new's fp16 backward at 256 and 1024 threads a row (the planner: 512); every
# kernel once with new; torch.compile in the same call; verify --norm on CUDA;
# Nsight Compute on new's fp16 backward.
set -u
top=$OUT; r=$OUT/r; mkdir -p $r
export PATH=$PATH:/usr/local/cuda/bin:$(ls -d /opt/nvidia/nsight-compute/*/ 2>/dev/null | tail -1)
nvidia-smi --query-gpu=name,driver_version,clocks.max.sm,clocks.max.mem --format=csv > $r/gpu.txt
mkdir -p /tmp/new /tmp/prev /tmp/alt && tar xJf .gpu/rt.tar.xz -C /tmp/new && cp -r /tmp/new/. /tmp/prev/ && cp -r /tmp/new/. /tmp/alt/ && cp .gpu/prev/TinyFlash.dll /tmp/prev/ && cp .gpu/alt/TinyFlash.dll /tmp/alt/
for ptx in .gpu/*.ptx; do
  echo "== $ptx"; ptxas -arch=sm_90a -v "$ptx" -o /tmp/k.cubin 2>&1 | grep -E "registers|spill|error" | head -6
  cuobjdump -sass /tmp/k.cubin 2>/dev/null | grep -oE '^\s+/\*[0-9a-f]{4}\*/\s+(@!?U?P[0-9T] )?[A-Z][A-Z0-9_.]*' | awk '{print $NF}' | sed 's/\..*//' | sort | uniq -c | sort -rn | head -25
done > $r/ptxas.txt 2>&1
for round in 1 2 3; do
  for v in prev new alt; do
    timeout 60 /tmp/$v/TinyFlash.Bench postprocess --backend cuda --kernels Backward --dtypes Float16 --placements 3 --out $r/ab-$v.jsonl >> $r/ab-$v.txt 2>&1
  done
done
for round in 1; do
  timeout 60 /tmp/new/TinyFlash.Bench postprocess --backend cuda --kernels Backward --dtypes Float16 --threads-per-row 256 1024 --out $r/threads.jsonl >> $r/threads.txt 2>&1
done
tar czf $top/all.tgz -C $r .
timeout 70 /tmp/new/TinyFlash.Bench postprocess --backend cuda --out $r/postprocess.jsonl >> $r/postprocess.txt 2>&1
(cd TinyFlash.Bench/baselines && timeout 100 python3 torch_norm.py --out $r/torch.jsonl) > $r/torch.txt 2>&1
tar czf $top/all.tgz -C $r .
timeout 120 /tmp/new/TinyFlash.Bench verify --norm --backend cuda > $r/verify-norm-cuda.txt 2>&1; echo "rc=$?" >> $r/verify-norm-cuda.txt
tar czf $top/all.tgz -C $r .
sections="--section SpeedOfLight --section LaunchStats --section Occupancy --section WarpStateStats --section SchedulerStats --section InstructionStats --section SourceCounters"
timeout 80 ncu --clock-control none $sections --launch-skip 3 --launch-count 2 -f -o /tmp/ncu-bwd16 /tmp/new/TinyFlash.Bench postprocess --backend cuda --kernels Backward --dtypes Float16 --warm-up 0 --out /tmp/ncu.jsonl > $r/ncu-bwd16.log 2>&1
ncu --import /tmp/ncu-bwd16.ncu-rep --page details > $r/ncu-bwd16.txt 2>&1
ncu --import /tmp/ncu-bwd16.ncu-rep --page source --csv --print-source sass 2>/dev/null | gzip > $r/ncu-bwd16-sass.csv.gz
tar czf $top/all.tgz -C $r .
