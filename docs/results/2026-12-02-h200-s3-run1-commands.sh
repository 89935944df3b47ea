#!/usr/bin/env bash
# Session 3 run 1: issue 4's tuned sweep grid on the current kernels; issue 6's postprocess figures on the H200 (current kernels) beside PyTorch.
set -u
out=$OUT/r; mkdir -p $out
OUT=$out bash TinyFlash.Bench/gpu/planning.sh tuned
export DOTNET_BUNDLE_EXTRACT_BASE_DIR=$(mktemp -d)
timeout 120 .gpu/TinyFlash.Bench postprocess --backend cuda --out "$out/postprocess.jsonl" > "$out/postprocess.txt" 2>&1
(cd TinyFlash.Bench/baselines && timeout 240 python3 torch_norm.py --out "$out/postprocess.jsonl") >> "$out/postprocess.txt" 2>&1
nvidia-smi --query-gpu=name,driver_version,clocks.max.sm,clocks.max.mem --format=csv > $out/gpu.txt
tar czf $OUT/all.tgz -C $out .
