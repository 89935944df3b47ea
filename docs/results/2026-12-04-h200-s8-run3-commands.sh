#!/usr/bin/env bash
# Session 8 run 3 (2026-12-04): with the cheaper dropout draw, does dq by its own pass (FlashAttention-2's deterministic
# variant) beat fp32 atomics from the key-block pass when dropout is on? The training grid at d 64/128, N 2048, 8192
# and 16384, default (atomics with dropout) and --deterministic, in one call.
set -u
top=$OUT; r=$OUT/r; mkdir -p $r
export DOTNET_BUNDLE_EXTRACT_BASE_DIR=$(mktemp -d)
nvidia-smi --query-gpu=name,driver_version,clocks.max.sm,clocks.max.mem --format=csv > $r/gpu.txt
for mode in atomic deterministic; do
  flag=""; [ $mode = deterministic ] && flag="--deterministic"
  timeout 200 .gpu/TinyFlash.Bench training --backend cuda --seqs 2048 8192 16384 $flag --out $r/training-$mode.jsonl > $r/training-$mode.txt 2>&1; echo "rc=$?" >> $r/training-$mode.txt
  tar czf $top/all.tgz -C $r .
done
