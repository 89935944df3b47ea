#!/usr/bin/env bash
# Session 5 run 3 (2026-12-03): the forward planned at 32 features a thread (4096: 128 x 8 quads), the backward at 32
# bytes of each tensor a thread (fp16 256 x 4, fp32 512 x 2), kept features as a 4-bit mask, pairwise merges without
# division on exact rows: correctness on CUDA and OpenCL, timing beside torch.compile, Nsight Compute on the norms.
set -u
top=$OUT; r=$OUT/r; mkdir -p $r
export DOTNET_BUNDLE_EXTRACT_BASE_DIR=$(mktemp -d)
for ptx in .gpu/*.ptx; do echo "== $ptx"; ptxas -arch=sm_90a -v "$ptx" -o /dev/null 2>&1 | grep -E "registers|spill|error" | head -6; done > $r/ptxas.txt 2>&1
timeout 150 .gpu/TinyFlash.Bench verify --norm --backend cuda > $r/verify-norm-cuda.txt 2>&1; echo "rc=$?" >> $r/verify-norm-cuda.txt
timeout 150 .gpu/TinyFlash.Bench postprocess --backend cuda --threads-per-row 128 256 512 --out "$r/postprocess.jsonl" > "$r/postprocess.txt" 2>&1
(cd TinyFlash.Bench/baselines && timeout 200 python3 torch_norm.py --out "$r/postprocess.jsonl") >> "$r/postprocess.txt" 2>&1
tar czf $top/all.tgz -C $r .
timeout 100 .gpu/TinyFlash.Bench postprocess --backend cuda --dropout 0 --kernels forward backward --out "$r/postprocess-p0.jsonl" > "$r/postprocess-p0.txt" 2>&1
(cd TinyFlash.Bench/baselines && timeout 120 python3 torch_norm.py --dropout 0 --out "$r/postprocess-p0.jsonl") >> "$r/postprocess-p0.txt" 2>&1
G=TinyFlash.Bench/gpu
OUT=$r timeout 60 bash $G/profile-postprocess.sh fwd16 forward Float16 1 1
OUT=$r timeout 90 bash $G/profile-postprocess.sh bwd16 backward Float16 3 1
gzip $r/ncu-*-sass.csv
timeout 90 .gpu/TinyFlash.Bench verify --norm --backend opencl --filter "x1,|x31,|x33,|x768,|x1000,|x4096," > $r/verify-norm-opencl.txt 2>&1; echo "rc=$?" >> $r/verify-norm-opencl.txt
nvidia-smi --query-gpu=name,driver_version,clocks.max.sm,clocks.max.mem --format=csv > $r/gpu.txt
tar czf $top/all.tgz -C $r .
