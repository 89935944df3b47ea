#!/usr/bin/env bash
# Device run for the portable kernel: the issue-2 measurement grid (fp32 and fp16, head dim 64 and 128,
# N = 4096, batch 4, 2048/d heads, causal and not) beside PyTorch's scaled_dot_product_attention on the same
# shapes, then a sweep of tile plans, the CUDA and OpenCL correctness matrices and the accuracy report.
# Run from the repository root on the GPU machine, with the published bench in .gpu/ (see docs/benchmarks.md).
# Everything lands in $OUT: results.jsonl (TinyFlash and PyTorch records), tiles.jsonl, verify-*.md,
# accuracy.md and log.txt.
set -u
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

step "tile plans, N=4096 B=4 d=128"
for dtype in float32 float16; do
  for plan in "128 16" "64 16" "32 16" "128 8" "64 8" "32 8"; do
    set -- $plan
    timeout 60 $bench run --backend cuda -b 4 --heads 16 -n 4096 -d 128 --dtype $dtype --block-m $1 --threads-x $2 \
      --json "$out/tiles.jsonl" 2>&1 | grep -E "tile|time|speed|check" | tee -a "$log"
  done
done

step "verify cuda"
timeout 180 $bench verify --backend cuda --markdown "$out/verify-cuda.md" >> "$log" 2>&1; tail -1 "$out/verify-cuda.md"
step "verify opencl"
timeout 240 $bench verify --backend opencl --markdown "$out/verify-opencl.md" >> "$log" 2>&1; tail -1 "$out/verify-opencl.md"
step accuracy
timeout 120 $bench accuracy --backend cuda --seq 512 4096 --head-dim 64 128 --output "$out/accuracy.md" >> "$log" 2>&1
step done
