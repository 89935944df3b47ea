#!/usr/bin/env bash
# Device run for the portable kernel, in two phases that each fit one device call:
#   measure: the issue-2 grid (fp32 and fp16, head dim 64 and 128, N = 4096, batch 4, 2048/d heads, causal and
#            not) beside PyTorch's scaled_dot_product_attention on the same shapes, and ptxas's register report;
#   check:   the correctness matrix on CUDA and OpenCL, the accuracy report and the BenchmarkDotNet suite.
# Run from the repository root on the GPU machine with the published bench in .gpu/ (docs/benchmarks.md says how).
# Results land in $OUT: results.jsonl (TinyFlash and PyTorch records), registers.txt, verify-*.md, accuracy.md,
# bench.md and log.txt.
set -u
phase=${1:?usage: portable-kernel.sh measure|check}
out=${OUT:-out}
mkdir -p "$out"
export DOTNET_BUNDLE_EXTRACT_BASE_DIR=$(mktemp -d)
bench=.gpu/TinyFlash.Bench
torch=TinyFlash.Bench/baselines/torch_sdpa.py
log="$out/log.txt"
step() { echo "== $*" | tee -a "$log"; }

step devices
$bench devices 2>&1 | tee -a "$log"
nvidia-smi --query-gpu=name,driver_version,clocks.sm,clocks.max.sm --format=csv 2>&1 | tee -a "$log"

if [ "$phase" = measure ]; then
  for d in 64 128; do
    heads=$((2048 / d))
    for dtype in float32 float16; do
      if [ $dtype = float32 ]; then backends="efficient math"; else backends="flash cudnn efficient"; fi
      for causal in "" "--causal"; do
        step "run $dtype d=$d $causal"
        timeout 120 $bench run --backend cuda -b 4 --heads $heads -n 4096 -d $d --dtype $dtype $causal \
          --json "$out/results.jsonl" 2>&1 | tee -a "$log"
        timeout 120 python3 $torch --dtype $dtype --head-dim $d --seq 4096 --batch 4 --heads $heads $causal \
          --backends $backends --out "$out/results.jsonl" >> "$log" 2>&1
      done
    done
  done
  step registers
  for plan in "128 16 128" "128 8 64" "128 8 256" "64 16 128"; do
    set -- $plan
    for dtype in float32 float16; do
      $bench ptx --dtype $dtype --block-m $1 --threads-x $2 -d $3 -o /tmp/kernel.ptx > /dev/null
      echo "$dtype block-m $1 threads-x $2 d $3: $(ptxas -arch=sm_90 -v /tmp/kernel.ptx -o /tmp/kernel.cubin 2>&1 | grep -oE 'Used [0-9]+ registers|[0-9]+ bytes stack frame|[0-9]+ bytes spill (stores|loads)' | tr '\n' ' ')" | tee -a "$out/registers.txt"
    done
  done
else
  step "verify cuda"
  timeout 180 $bench verify --backend cuda --markdown "$out/verify-cuda.md" >> "$log" 2>&1; tail -1 "$out/verify-cuda.md"
  step "verify opencl"
  timeout 240 $bench verify --backend opencl --markdown "$out/verify-opencl.md" >> "$log" 2>&1; tail -1 "$out/verify-opencl.md"
  step accuracy
  timeout 120 $bench accuracy --backend cuda --seq 512 4096 --head-dim 64 128 --output "$out/accuracy.md" >> "$log" 2>&1
  step "benchmarkdotnet (in-process, short job)"
  (cd "$out" && timeout 330 "$OLDPWD/$bench" bench --filter '*' --job short --exporters github >> log.txt 2>&1)
  find "$out" -name '*-report-github.md' -exec cp {} "$out/bench.md" \;
fi
step done
