#!/usr/bin/env bash
# Session 12 run 2 (2026-12-07), 88fef1d: the backward matrix on CUDA (warpgroup passes at d64/d128, the block-sparse
# fix); the forward's block-sparse cases; every fused norm/rotary kernel (fp16/bf16 backward now at 128 registers)
# beside torch.compile; verify --norm for the 16-bit storage types; the training grid's remaining lengths beside
# PyTorch flash/cuDNN (run 1 has d128 N 4096/16384 and d64 N 4096).
set -u
top=$OUT; r=$OUT/r; mkdir -p $r
export PATH=$PATH:/usr/local/cuda/bin
nvidia-smi --query-gpu=name,driver_version,clocks.max.sm,clocks.max.mem --format=csv > $r/gpu.txt
mkdir -p /tmp/new && tar xJf .gpu/rt.tar.xz -C /tmp/new
b=/tmp/new/TinyFlash.Bench
for ptx in .gpu/*.ptx; do echo "== $ptx"; ptxas -arch=sm_90a -v "$ptx" -o /dev/null 2>&1 | grep -E "registers|spill|error" | head -4; done > $r/ptxas.txt 2>&1
timeout 110 $b verify --backend cuda --backward > $r/verify-backward-cuda.txt 2>&1; echo "rc=$?" >> $r/verify-backward-cuda.txt
timeout 30 $b verify --backend cuda --filter block-sparse > $r/verify-block-sparse-cuda.txt 2>&1; echo "rc=$?" >> $r/verify-block-sparse-cuda.txt
tar czf $top/all.tgz -C $r .
timeout 45 $b postprocess --backend cuda --out $r/postprocess.jsonl > $r/postprocess.txt 2>&1
(cd TinyFlash.Bench/baselines && timeout 80 python3 torch_norm.py --out $r/torch-norm.jsonl) > $r/torch-norm.txt 2>&1
tar czf $top/all.tgz -C $r .
timeout 120 $b training --backend cuda --head-dims 128 64 --seqs 1024 16384 --out $r/training.jsonl > $r/training.txt 2>&1; echo "rc=$?" >> $r/training.txt
tar czf $top/all.tgz -C $r .
(cd TinyFlash.Bench/baselines && timeout 60 python3 torch_sdpa_backward.py --head-dims 128 64 --seqs 1024 16384 --out $r/torch-sdpa.jsonl) > $r/torch-sdpa.txt 2>&1
tar czf $top/all.tgz -C $r .
timeout 100 $b verify --norm --backend cuda --filter "Float16|BFloat16" > $r/verify-norm-cuda.txt 2>&1; echo "rc=$?" >> $r/verify-norm-cuda.txt
tar czf $top/all.tgz -C $r .
