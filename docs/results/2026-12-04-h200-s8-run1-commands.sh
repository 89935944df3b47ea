#!/usr/bin/env bash
# Session 8 run 1 (2026-12-04): dropout-only calls skip the unused softcap/ALiBi/bias code (ScoreModifiers.IsIdentity
# uniform). ptxas of the modified kernels; forward matrix cases with dropout, softcap, masks and packed sequences and the
# whole backward matrix on CUDA; `run` (B 4, H 32, N 4096, fp16, bhsd) with dropout 0.1, the planner's tile and forced ones.
set -u
top=$OUT; r=$OUT/r; mkdir -p $r
export DOTNET_BUNDLE_EXTRACT_BASE_DIR=$(mktemp -d)
nvidia-smi --query-gpu=name,driver_version,clocks.max.sm,clocks.max.mem --format=csv > $r/gpu.txt
for ptx in .gpu/*.ptx; do echo "== $ptx"; ptxas -arch=sm_90a -v "$ptx" -o /dev/null 2>&1 | grep -E "registers|spill|error" | head -6; done > $r/ptxas.txt 2>&1
tar czf $top/all.tgz -C $r .
timeout 120 .gpu/TinyFlash.Bench verify --backend cuda --filter "dropout|softcap|mask|packed" > $r/verify-forward-cuda.txt 2>&1; echo "rc=$?" >> $r/verify-forward-cuda.txt
tar czf $top/all.tgz -C $r .
timeout 120 .gpu/TinyFlash.Bench verify --backend cuda --backward > $r/verify-backward-cuda.txt 2>&1; echo "rc=$?" >> $r/verify-backward-cuda.txt
tar czf $top/all.tgz -C $r .
B="-b 4 --heads 32 -n 4096 --dtype float16 --layout bhsd"
{
for d in 64 128; do
  echo "### d$d"; timeout 30 .gpu/TinyFlash.Bench run $B -d $d | grep -E "kernel|check|time|speed"
  echo "### d$d dropout 0.1"; timeout 30 .gpu/TinyFlash.Bench run $B -d $d --dropout 0.1 | grep -E "kernel|check|time|speed"
  tiles="4x1x64 4x2x64 wg2x64"; [ $d = 64 ] && tiles="$tiles wg1x128" || tiles="$tiles wg2x128"
  for t in $tiles; do echo "### d$d dropout 0.1 --tensor-tile $t"; timeout 30 .gpu/TinyFlash.Bench run $B -d $d --dropout 0.1 --tensor-tile $t | grep -E "kernel|check|speed"; done
  tar czf $top/all.tgz -C $r .
done
} > $r/run-tiles.txt 2>&1
tar czf $top/all.tgz -C $r .
