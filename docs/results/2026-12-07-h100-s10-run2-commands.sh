#!/usr/bin/env bash
# Session 10 run 2 (2026-12-07): the group reductions written out for 32 lanes with the warps' values summed by a
# second butterfly, absent norm inputs read as rows of zeros (no conditional loads), the column pass at 32 slices (new)
# against e197d26 (prev): ptxas and SASS opcode counts, prev and new interleaved twice, verify --norm on CUDA,
# torch.compile in the same call, Nsight Compute on new's fp16 backward.
set -u
top=$OUT; r=$OUT/r; mkdir -p $r
export PATH=$PATH:/usr/local/cuda/bin:$(ls -d /opt/nvidia/nsight-compute/*/ 2>/dev/null | tail -1)
nvidia-smi --query-gpu=name,driver_version,clocks.max.sm,clocks.max.mem --format=csv > $r/gpu.txt
mkdir -p /tmp/new /tmp/prev && tar xJf .gpu/rt.tar.xz -C /tmp/new && cp -r /tmp/new/. /tmp/prev/ && cp .gpu/prev/TinyFlash.dll .gpu/prev/TinyFlash.Bench.dll /tmp/prev/
for ptx in .gpu/*.ptx; do
  echo "== $ptx"; ptxas -arch=sm_90a -v "$ptx" -o /tmp/k.cubin 2>&1 | grep -E "registers|spill|error" | head -6
  cuobjdump -sass /tmp/k.cubin 2>/dev/null | grep -oE '^\s+/\*[0-9a-f]{4}\*/\s+(@!?U?P[0-9T] )?[A-Z][A-Z0-9_.]*' | awk '{print $NF}' | sed 's/\..*//' | sort | uniq -c | sort -rn | head -25
done > $r/ptxas.txt 2>&1
for round in 1 2; do
  for v in prev new; do
    timeout 70 /tmp/$v/TinyFlash.Bench postprocess --backend cuda --kernels Forward Backward --out $r/ab-$v.jsonl >> $r/ab-$v.txt 2>&1
  done
done
tar czf $top/all.tgz -C $r .
timeout 120 /tmp/new/TinyFlash.Bench verify --norm --backend cuda > $r/verify-norm-cuda.txt 2>&1; echo "rc=$?" >> $r/verify-norm-cuda.txt
tar czf $top/all.tgz -C $r .
(cd TinyFlash.Bench/baselines && timeout 100 python3 torch_norm.py --out $r/torch.jsonl) > $r/torch.txt 2>&1
tar czf $top/all.tgz -C $r .
sections="--section SpeedOfLight --section LaunchStats --section Occupancy --section WarpStateStats --section SchedulerStats --section InstructionStats --section SourceCounters"
timeout 80 ncu --clock-control none $sections --launch-skip 3 --launch-count 2 -f -o /tmp/ncu-bwd16 /tmp/new/TinyFlash.Bench postprocess --backend cuda --kernels Backward --dtypes Float16 --warm-up 0 --out /tmp/ncu.jsonl > $r/ncu-bwd16.log 2>&1
ncu --import /tmp/ncu-bwd16.ncu-rep --page details > $r/ncu-bwd16.txt 2>&1
ncu --import /tmp/ncu-bwd16.ncu-rep --page source --csv --print-source sass 2>/dev/null | gzip > $r/ncu-bwd16-sass.csv.gz
tar czf $top/all.tgz -C $r .
