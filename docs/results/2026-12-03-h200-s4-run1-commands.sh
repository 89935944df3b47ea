#!/usr/bin/env bash
# Session 4 run 1 (2026-12-03): issue 6's register-resident norm kernels and vectorised rotary split on CUDA
# (verify --norm, then postprocess with the group-size sweep beside torch.compile), and issue 4's tuned grid again.
set -u
out=$OUT/r; mkdir -p $out
export DOTNET_BUNDLE_EXTRACT_BASE_DIR=$(mktemp -d)
for ptx in .gpu/*.ptx; do echo "== $ptx"; ptxas -arch=sm_90a -v "$ptx" -o /dev/null 2>&1 | grep -E "registers|spill|error" | head -6; done > $out/ptxas.txt 2>&1
timeout 150 .gpu/TinyFlash.Bench verify --norm --backend cuda > $out/verify-norm-cuda.txt 2>&1; echo "rc=$?" >> $out/verify-norm-cuda.txt
timeout 150 .gpu/TinyFlash.Bench postprocess --backend cuda --threads-per-row 64 128 256 512 1024 --out "$out/postprocess.jsonl" > "$out/postprocess.txt" 2>&1
(cd TinyFlash.Bench/baselines && timeout 200 python3 torch_norm.py --out "$out/postprocess.jsonl") >> "$out/postprocess.txt" 2>&1
nvidia-smi --query-gpu=name,driver_version,clocks.max.sm,clocks.max.mem --format=csv > $out/gpu.txt
tar czf $OUT/all.tgz -C $out .
OUT=$out timeout 150 bash TinyFlash.Bench/gpu/planning.sh tuned
timeout 60 .gpu/TinyFlash.Bench verify --norm --backend opencl --filter "x1,|x31,|x33,|x1000,|x4096," > $out/verify-norm-opencl.txt 2>&1; echo "rc=$?" >> $out/verify-norm-opencl.txt
tar czf $OUT/all.tgz -C $out .
