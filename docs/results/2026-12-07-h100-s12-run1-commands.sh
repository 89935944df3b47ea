#!/usr/bin/env bash
# Session 12 run 1 (2026-12-07): the backward's two tensor-core passes on warpgroup products (new: WarpGroupBackwardKernel,
# WarpGroupQueryGradientKernel) against the mma.sync passes (--mma-backward) in the same build: ptxas; verify --backward on CUDA; training at d128
# (and d64) beside PyTorch flash/cuDNN in the same call. Then issue 6: the fp16 norm backward's row pass at ptxas's
# registers (the planner: 136) beside it held to 128 and 96, three processes; torch.compile fp16; verify --norm fp16.
set -u
top=$OUT; r=$OUT/r; mkdir -p $r
export PATH=$PATH:/usr/local/cuda/bin
nvidia-smi --query-gpu=name,driver_version,clocks.max.sm,clocks.max.mem --format=csv > $r/gpu.txt
mkdir -p /tmp/new && tar xJf .gpu/rt.tar.xz -C /tmp/new
b=/tmp/new/TinyFlash.Bench
for ptx in .gpu/*.ptx; do echo "== $ptx"; ptxas -arch=sm_90a -v "$ptx" -o /dev/null 2>&1 | grep -E "registers|spill|error|warn" | head -8; done > $r/ptxas.txt 2>&1
tar czf $top/all.tgz -C $r .
timeout 120 $b verify --backend cuda --backward > $r/verify-backward-cuda.txt 2>&1; echo "rc=$?" >> $r/verify-backward-cuda.txt
tar czf $top/all.tgz -C $r .
timeout 130 $b training --backend cuda --head-dims 128 --seqs 4096 16384 --out $r/training.jsonl > $r/training-new.txt 2>&1; echo "rc=$?" >> $r/training-new.txt
tar czf $top/all.tgz -C $r .
(cd TinyFlash.Bench/baselines && timeout 80 python3 torch_sdpa_backward.py --head-dims 128 64 --seqs 4096 16384 --out $r/torch-sdpa.jsonl) > $r/torch-sdpa.txt 2>&1
tar czf $top/all.tgz -C $r .
timeout 60 $b training --backend cuda --head-dims 128 --seqs 4096 --mma-backward --out $r/training-mma.jsonl > $r/training-mma.txt 2>&1; echo "rc=$?" >> $r/training-mma.txt
timeout 60 $b training --backend cuda --head-dims 64 --seqs 4096 --out $r/training.jsonl > $r/training-new-d64.txt 2>&1; echo "rc=$?" >> $r/training-new-d64.txt
tar czf $top/all.tgz -C $r .
for round in 1 2 3; do
  timeout 25 $b postprocess --backend cuda --kernels Backward --dtypes Float16 --backward-registers 128 96 --out $r/registers.jsonl >> $r/registers.txt 2>&1
done
(cd TinyFlash.Bench/baselines && timeout 40 python3 torch_norm.py --dtypes float16 --out $r/torch-norm.jsonl) > $r/torch-norm.txt 2>&1
tar czf $top/all.tgz -C $r .
timeout 60 $b verify --norm --backend cuda --filter Float16 > $r/verify-norm-cuda.txt 2>&1; echo "rc=$?" >> $r/verify-norm-cuda.txt
tar czf $top/all.tgz -C $r .
