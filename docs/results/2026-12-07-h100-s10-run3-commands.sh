#!/usr/bin/env bash
# Session 10 run 3 (2026-12-07): issue 6's record for the kernels of run 2 with the column pass reading two row blocks
# a step: ptxas, the norm matrix on CUDA and PoCL, every postprocess kernel three times (planner's shapes, fp16 and
# fp32), then torch.compile in the same call.
set -u
top=$OUT; r=$OUT/r; mkdir -p $r
export PATH=$PATH:/usr/local/cuda/bin
nvidia-smi --query-gpu=name,driver_version,clocks.max.sm,clocks.max.mem --format=csv > $r/gpu.txt
mkdir -p /tmp/new && tar xJf .gpu/rt.tar.xz -C /tmp/new
for ptx in .gpu/*.ptx; do echo "== $ptx"; ptxas -arch=sm_90a -v "$ptx" -o /dev/null 2>&1 | grep -E "registers|spill|error" | head -6; done > $r/ptxas.txt 2>&1
for round in 1 2 3; do
  timeout 80 /tmp/new/TinyFlash.Bench postprocess --backend cuda --out $r/postprocess.jsonl >> $r/postprocess.txt 2>&1
done
tar czf $top/all.tgz -C $r .
(cd TinyFlash.Bench/baselines && timeout 100 python3 torch_norm.py --out $r/torch.jsonl) > $r/torch.txt 2>&1
tar czf $top/all.tgz -C $r .
timeout 115 /tmp/new/TinyFlash.Bench verify --norm --backend cuda > $r/verify-norm-cuda.txt 2>&1; echo "rc=$?" >> $r/verify-norm-cuda.txt
tar czf $top/all.tgz -C $r .
timeout 30 /tmp/new/TinyFlash.Bench verify --norm --backend opencl --filter "x1,|x31,|x33,|x768,|x1000,|x4096," > $r/verify-norm-opencl.txt 2>&1; echo "rc=$?" >> $r/verify-norm-opencl.txt
tar czf $top/all.tgz -C $r .
