#!/usr/bin/env bash
# Session 7 run 2 (2026-12-03): where the forward with dropout goes. ptxas of the warpgroup and mma.sync forward kernels
# with and without modifiers; `run` (B 4, H 32, N 4096, fp16, bhsd) without and with dropout 0.1, the planner's tile and
# forced ones; Nsight Compute of the planner's d64 forward with dropout.
set -u
top=$OUT; r=$OUT/r; mkdir -p $r
export DOTNET_BUNDLE_EXTRACT_BASE_DIR=$(mktemp -d)
for ptx in .gpu/*.ptx; do echo "== $ptx"; ptxas -arch=sm_90a -v "$ptx" -o /dev/null 2>&1 | grep -E "registers|spill|error" | head -6; done > $r/ptxas.txt 2>&1
B="-b 4 --heads 32 -n 4096 --dtype float16 --layout bhsd"
{
for d in 64 128; do
  for extra in "" "--dropout 0.1"; do echo "### d$d $extra"; timeout 40 .gpu/TinyFlash.Bench run $B -d $d $extra | grep -E "kernel|check|time|speed"; done
  tiles="4x2x64 4x1x64 8x1x64 wg2x64"; [ $d = 64 ] && tiles="$tiles 4x2x128 wg1x128 wg2x128" || tiles="$tiles wg2x128 8x2x32"
  for t in $tiles; do echo "### d$d dropout 0.1 --tensor-tile $t"; timeout 40 .gpu/TinyFlash.Bench run $B -d $d --dropout 0.1 --tensor-tile $t | grep -E "kernel|check|speed"; done
done
} > $r/run-tiles.txt 2>&1
tar czf $top/all.tgz -C $r .
command -v ncu > /dev/null || export PATH=$PATH:$(ls -d /opt/nvidia/nsight-compute/*/ | tail -1)
sections="--section SpeedOfLight --section LaunchStats --section Occupancy --section WarpStateStats --section SchedulerStats --section ComputeWorkloadAnalysis --section InstructionStats --section SourceCounters"
timeout 150 ncu --clock-control none $sections --launch-skip 3 --launch-count 1 -f -o $r/ncu-fwd-dropout .gpu/TinyFlash.Bench run $B -d 64 --dropout 0.1 > $r/ncu-fwd-dropout.log 2>&1
ncu --import $r/ncu-fwd-dropout.ncu-rep --page details > $r/ncu-fwd-dropout.txt 2>&1
ncu --import $r/ncu-fwd-dropout.ncu-rep --page source --csv --print-source sass > $r/ncu-fwd-dropout-sass.csv 2>&1
rm -f $r/ncu-fwd-dropout.ncu-rep; gzip $r/ncu-fwd-dropout-sass.csv
tar czf $top/all.tgz -C $r .
