#!/usr/bin/env bash
# Session 10 run 1 (2026-12-07): the fp16 forward at 64 threads a row of 16 quads (new; prev: 128 of 8) and the
# backward's column pass at 32 slices (new; prev: 8), against e197d26 (prev) in one call: ptxas and SASS opcode counts,
# prev and new interleaved twice (planner's shapes), new at forced group sizes, Nsight Compute on prev's fp16 forward
# and fp16 backward (row and column passes).
set -u
top=$OUT; r=$OUT/r; mkdir -p $r
export PATH=$PATH:/usr/local/cuda/bin:$(ls -d /opt/nvidia/nsight-compute/*/ 2>/dev/null | tail -1)
nvidia-smi --query-gpu=name,driver_version,clocks.max.sm,clocks.max.mem --format=csv > $r/gpu.txt
mkdir -p /tmp/new /tmp/prev && tar xJf .gpu/rt.tar.xz -C /tmp/new && cp -r /tmp/new/. /tmp/prev/ && cp .gpu/prev/TinyFlash.dll .gpu/prev/TinyFlash.Bench.dll /tmp/prev/
for ptx in .gpu/*.ptx; do
  echo "== $ptx"; ptxas -arch=sm_90a -v "$ptx" -o /tmp/k.cubin 2>&1 | grep -E "registers|spill|error" | head -6
  cuobjdump -sass /tmp/k.cubin 2>/dev/null | grep -oE '^\s+/\*[0-9a-f]{4}\*/\s+(@!?U?P[0-9T] )?[A-Z][A-Z0-9_.]*' | awk '{print $NF}' | sed 's/\..*//' | sort | uniq -c | sort -rn | head -25
done > $r/ptxas.txt 2>&1
tar czf $top/all.tgz -C $r .
for round in 1 2; do
  for v in prev new; do
    timeout 70 /tmp/$v/TinyFlash.Bench postprocess --backend cuda --kernels Forward Backward --out $r/ab-$v.jsonl >> $r/ab-$v.txt 2>&1
  done
done
tar czf $top/all.tgz -C $r .
timeout 60 /tmp/new/TinyFlash.Bench postprocess --backend cuda --kernels Forward --dtypes Float16 --threads-per-row 64 128 --out $r/forced.jsonl > $r/forced.txt 2>&1
timeout 60 /tmp/new/TinyFlash.Bench postprocess --backend cuda --kernels Backward --dtypes Float16 --threads-per-row 1024 --out $r/forced.jsonl >> $r/forced.txt 2>&1
tar czf $top/all.tgz -C $r .
bench=/tmp/prev/TinyFlash.Bench
sections="--section SpeedOfLight --section LaunchStats --section Occupancy --section WarpStateStats --section SchedulerStats --section ComputeWorkloadAnalysis --section MemoryWorkloadAnalysis --section InstructionStats --section SourceCounters"
prof() { # name kernel dtype skip count
  timeout 100 ncu --clock-control none $sections --launch-skip $4 --launch-count $5 -f -o /tmp/ncu-$1 $bench postprocess --backend cuda --kernels $2 --dtypes $3 --warm-up 0 --out /tmp/ncu-$1.jsonl > $r/ncu-$1.log 2>&1
  ncu --import /tmp/ncu-$1.ncu-rep --page details > $r/ncu-$1.txt 2>&1
  ncu --import /tmp/ncu-$1.ncu-rep --page source --csv --print-source sass 2>/dev/null | gzip > $r/ncu-$1-sass.csv.gz
}
prof bwd16 Backward Float16 3 2; tar czf $top/all.tgz -C $r .
prof fwd16 Forward Float16 1 1; tar czf $top/all.tgz -C $r .
bench=/tmp/new/TinyFlash.Bench; prof fwd16new Forward Float16 1 1; tar czf $top/all.tgz -C $r .
