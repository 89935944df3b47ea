#!/usr/bin/env bash
# Session 6 run 2 (2026-12-03): run 1's kernels, the backward's row pass bumping the Philox round keys in registers
# again (run 1: its 64-register limit spilled 32-96 bytes with the keys read from the parameters): ptxas, CUDA
# correctness, the backward timed beside torch.compile in the same call.
set -u
top=$OUT; r=$OUT/r; mkdir -p $r
export DOTNET_BUNDLE_EXTRACT_BASE_DIR=$(mktemp -d)
for ptx in .gpu/*.ptx; do echo "== $ptx"; ptxas -arch=sm_90a -v "$ptx" -o /dev/null 2>&1 | grep -E "registers|spill|error" | head -6; done > $r/ptxas.txt 2>&1
timeout 100 .gpu/TinyFlash.Bench verify --norm --backend cuda > $r/verify-norm-cuda.txt 2>&1; echo "rc=$?" >> $r/verify-norm-cuda.txt
timeout 120 .gpu/TinyFlash.Bench postprocess --backend cuda --threads-per-row 512 --out "$r/postprocess.jsonl" > "$r/postprocess.txt" 2>&1
(cd TinyFlash.Bench/baselines && timeout 150 python3 torch_norm.py --out "$r/postprocess.jsonl") >> "$r/postprocess.txt" 2>&1
nvidia-smi --query-gpu=name,driver_version,clocks.max.sm,clocks.max.mem --format=csv > $r/gpu.txt
tar czf $top/all.tgz -C $r .
