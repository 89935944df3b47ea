#!/usr/bin/env bash
# Session 9 run 3 (2026-12-07): the forward back to a group a row, unstaged (run 2: staging it was slower), the 24-bit
# mask back (run 2: one call for two quads was slower), and the backward's stages with the block's first chunk closed
# in a group of its own (run 2 read it before its copies landed). ptxas, the norm matrix on CUDA and PoCL, run 1's
# kernels (new), torch.compile, then run 1's kernels (prev).
set -u
top=$OUT; r=$OUT/r; mkdir -p $r
nvidia-smi --query-gpu=name,driver_version,clocks.max.sm,clocks.max.mem --format=csv > $r/gpu.txt
mkdir -p /tmp/new /tmp/prev && tar xJf .gpu/rt.tar.xz -C /tmp/new && cp -r /tmp/new/. /tmp/prev/ && cp .gpu/prev/TinyFlash.dll .gpu/prev/TinyFlash.Bench.dll /tmp/prev/
for ptx in .gpu/*.ptx; do echo "== $ptx"; ptxas -arch=sm_90a -v "$ptx" -o /dev/null 2>&1 | grep -E "registers|spill|error" | head -6; done > $r/ptxas.txt 2>&1
timeout 100 /tmp/new/TinyFlash.Bench verify --norm --backend cuda > $r/verify-norm-cuda.txt 2>&1; echo "rc=$?" >> $r/verify-norm-cuda.txt
timeout 25 /tmp/new/TinyFlash.Bench verify --norm --backend opencl --filter "x1,|x31,|x33,|x768,|x1000,|x4096," > $r/verify-norm-opencl.txt 2>&1; echo "rc=$?" >> $r/verify-norm-opencl.txt
tar czf $top/all.tgz -C $r .
timeout 60 /tmp/new/TinyFlash.Bench postprocess --backend cuda --out $r/new.jsonl > $r/new.txt 2>&1
tar czf $top/all.tgz -C $r .
(cd TinyFlash.Bench/baselines && timeout 90 python3 torch_norm.py --out $r/torch.jsonl) > $r/torch.txt 2>&1
tar czf $top/all.tgz -C $r .
timeout 60 /tmp/prev/TinyFlash.Bench postprocess --backend cuda --kernels Forward Backward --out $r/prev.jsonl > $r/prev.txt 2>&1
tar czf $top/all.tgz -C $r .
