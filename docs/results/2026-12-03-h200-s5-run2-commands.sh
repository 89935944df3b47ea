#!/usr/bin/env bash
# Session 5 run 2 (2026-12-03): exact-row norm kernels (no bounds checks, one moments reduction, integer dropout test),
# rotary split of one group a token (angles once a thread for all its heads): correctness on CUDA and OpenCL, timing
# beside torch.compile in the same call, and Nsight Compute on the three kernels.
set -u
top=$OUT; r=$OUT/r; mkdir -p $r
export DOTNET_BUNDLE_EXTRACT_BASE_DIR=$(mktemp -d)
for ptx in .gpu/*.ptx; do echo "== $ptx"; ptxas -arch=sm_90a -v "$ptx" -o /dev/null 2>&1 | grep -E "registers|spill|error" | head -6; done > $r/ptxas.txt 2>&1
timeout 150 .gpu/TinyFlash.Bench verify --norm --backend cuda > $r/verify-norm-cuda.txt 2>&1; echo "rc=$?" >> $r/verify-norm-cuda.txt
timeout 150 .gpu/TinyFlash.Bench postprocess --backend cuda --threads-per-row 128 256 512 1024 --out "$r/postprocess.jsonl" > "$r/postprocess.txt" 2>&1
(cd TinyFlash.Bench/baselines && timeout 200 python3 torch_norm.py --out "$r/postprocess.jsonl") >> "$r/postprocess.txt" 2>&1
tar czf $top/all.tgz -C $r .
G=TinyFlash.Bench/gpu
OUT=$r timeout 60 bash $G/profile-postprocess.sh fwd16 forward Float16 1 1
OUT=$r timeout 90 bash $G/profile-postprocess.sh bwd16 backward Float16 3 2
OUT=$r timeout 60 bash $G/profile-postprocess.sh rot16 rotary Float16 1 1
rm -f $r/ncu-*-sass.csv.gz; gzip $r/ncu-*-sass.csv
timeout 90 .gpu/TinyFlash.Bench verify --norm --backend opencl --filter "x1,|x31,|x33,|x768,|x1000,|x4096," > $r/verify-norm-opencl.txt 2>&1; echo "rc=$?" >> $r/verify-norm-opencl.txt
nvidia-smi --query-gpu=name,driver_version,clocks.max.sm,clocks.max.mem --format=csv > $r/gpu.txt
tar czf $top/all.tgz -C $r .
