#!/usr/bin/env bash
# Session 6 run 1 (2026-12-03): Philox with its round keys as kernel parameters (no key bumps in registers) and one
# mul.wide.u32 a product (was mul.hi + mul.lo), the dropout test on the whole word, s = factor·(x + bias) + residual
# and y = x̂·γ + β as fused multiply-adds: ptxas, correctness on CUDA and OpenCL, timing beside torch.compile in the
# same call, Nsight Compute of the fp16 forward and backward.
set -u
top=$OUT; r=$OUT/r; mkdir -p $r
export DOTNET_BUNDLE_EXTRACT_BASE_DIR=$(mktemp -d)
for ptx in .gpu/*.ptx; do echo "== $ptx"; ptxas -arch=sm_90a -v "$ptx" -o /dev/null 2>&1 | grep -E "registers|spill|error" | head -6; done > $r/ptxas.txt 2>&1
timeout 100 .gpu/TinyFlash.Bench verify --norm --backend cuda > $r/verify-norm-cuda.txt 2>&1; echo "rc=$?" >> $r/verify-norm-cuda.txt
timeout 120 .gpu/TinyFlash.Bench postprocess --backend cuda --threads-per-row 128 256 512 --out "$r/postprocess.jsonl" > "$r/postprocess.txt" 2>&1
(cd TinyFlash.Bench/baselines && timeout 150 python3 torch_norm.py --out "$r/postprocess.jsonl") >> "$r/postprocess.txt" 2>&1
tar czf $top/all.tgz -C $r .
G=TinyFlash.Bench/gpu
OUT=$r timeout 60 bash $G/profile-postprocess.sh fwd16 forward Float16 1 1
OUT=$r timeout 90 bash $G/profile-postprocess.sh bwd16 backward Float16 3 1
gzip $r/ncu-*-sass.csv
tar czf $top/all.tgz -C $r .
timeout 40 .gpu/TinyFlash.Bench verify --norm --backend opencl --filter "x1,|x31,|x33,|x768,|x1000,|x4096," > $r/verify-norm-opencl.txt 2>&1; echo "rc=$?" >> $r/verify-norm-opencl.txt
nvidia-smi --query-gpu=name,driver_version,clocks.max.sm,clocks.max.mem --format=csv > $r/gpu.txt
tar czf $top/all.tgz -C $r .
