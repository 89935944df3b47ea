#!/usr/bin/env bash
# Nsight Compute on the postprocess kernels (Firecracker machines read the hardware counters; clocks left alone):
#   profile-postprocess.sh NAME KERNEL DTYPE SKIP COUNT [more postprocess options]
# profiles launches SKIP .. SKIP+COUNT-1 of `postprocess --kernels KERNEL --dtypes DTYPE` (forward: 0 warm-up, 1
# probe; backward: 0 the untimed forward, 1-2 the warm-up's row and feature passes, 3-4 the probe's; rotary: 0, 1) into
# $out/ncu-NAME.txt (speed of light, occupancy, warp stalls, instruction mix) and $out/ncu-NAME-sass.csv (per-SASS-
# instruction samples and stall reasons).
set -u
source "$(dirname "$0")/common.sh"
command -v ncu > /dev/null || export PATH=$PATH:$(ls -d /opt/nvidia/nsight-compute/*/ | tail -1)
name=$1 kernel=$2 dtype=$3 skip=$4 count=$5; shift 5
sections="--section SpeedOfLight --section LaunchStats --section Occupancy --section WarpStateStats --section SchedulerStats \
 --section ComputeWorkloadAnalysis --section MemoryWorkloadAnalysis --section InstructionStats --section SourceCounters"
ncu --clock-control none $sections --launch-skip "$skip" --launch-count "$count" -f -o "$out/ncu-$name" \
  $bench postprocess --backend cuda --kernels "$kernel" --dtypes "$dtype" --warm-up 0 --out "$out/ncu-$name.jsonl" "$@" > "$out/ncu-$name.log" 2>&1
ncu --import "$out/ncu-$name.ncu-rep" --page details > "$out/ncu-$name.txt" 2>&1
ncu --import "$out/ncu-$name.ncu-rep" --page source --csv --print-source sass > "$out/ncu-$name-sass.csv" 2>&1
rm -f "$out/ncu-$name.ncu-rep"
