#!/usr/bin/env bash
# Session 5 run 4 (2026-12-03): the final plans (forward 32 features a thread; backward 16 in fp32, 8 in fp16) with
# half a second of warm-up before each storage type's measurements: correctness on CUDA, timing beside torch.compile
# in the same call, p = 0.1 and p = 0.
set -u
top=$OUT; r=$OUT/r; mkdir -p $r
export DOTNET_BUNDLE_EXTRACT_BASE_DIR=$(mktemp -d)
timeout 150 .gpu/TinyFlash.Bench verify --norm --backend cuda > $r/verify-norm-cuda.txt 2>&1; echo "rc=$?" >> $r/verify-norm-cuda.txt
timeout 150 .gpu/TinyFlash.Bench postprocess --backend cuda --threads-per-row 128 256 512 --out "$r/postprocess.jsonl" > "$r/postprocess.txt" 2>&1
(cd TinyFlash.Bench/baselines && timeout 200 python3 torch_norm.py --out "$r/postprocess.jsonl") >> "$r/postprocess.txt" 2>&1
tar czf $top/all.tgz -C $r .
timeout 100 .gpu/TinyFlash.Bench postprocess --backend cuda --dropout 0 --kernels forward backward --out "$r/postprocess-p0.jsonl" > "$r/postprocess-p0.txt" 2>&1
(cd TinyFlash.Bench/baselines && timeout 120 python3 torch_norm.py --dropout 0 --out "$r/postprocess-p0.jsonl") >> "$r/postprocess-p0.txt" 2>&1
nvidia-smi --query-gpu=name,driver_version,clocks.max.sm,clocks.max.mem --format=csv > $r/gpu.txt
tar czf $top/all.tgz -C $r .
