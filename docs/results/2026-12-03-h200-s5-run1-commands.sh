#!/usr/bin/env bash
# Session 5 run 1 (2026-12-03): where the norm forward/backward and the rotary split spend their time on the H200
# (Nsight Compute: speed of light, occupancy, stalls, per-SASS samples), and the same kernels without dropout.
set -u
out=$OUT/r; mkdir -p $out
export OUT=$out
for ptx in .gpu/*.ptx; do echo "== $ptx"; ptxas -arch=sm_90a -v "$ptx" -o /dev/null 2>&1 | grep -E "registers|spill|error" | head -6; done > $out/ptxas.txt 2>&1
G=TinyFlash.Bench/gpu
timeout 90 bash $G/profile-postprocess.sh fwd16 forward Float16 0 2
tar czf $OUT/all.tgz -C $out .
timeout 60 bash $G/profile-postprocess.sh fwd16-p0 forward Float16 1 1 --dropout 0
timeout 60 bash $G/profile-postprocess.sh fwd32 forward Float32 1 1
timeout 90 bash $G/profile-postprocess.sh bwd16 backward Float16 1 4
timeout 60 bash $G/profile-postprocess.sh rot16 rotary Float16 1 1
tar czf $OUT/all.tgz -C $out .
export DOTNET_BUNDLE_EXTRACT_BASE_DIR=$(mktemp -d)
timeout 120 .gpu/TinyFlash.Bench postprocess --backend cuda --dropout 0 --threads-per-row 128 512 --out $out/pp-p0.jsonl > $out/pp-p0.txt 2>&1
(cd TinyFlash.Bench/baselines && timeout 120 python3 torch_norm.py --dropout 0 --out "$out/pp-p0.jsonl") >> "$out/pp-p0.txt" 2>&1
nvidia-smi --query-gpu=name,driver_version,clocks.max.sm,clocks.max.mem --format=csv > $out/gpu.txt
tar czf $OUT/all.tgz -C $out .
