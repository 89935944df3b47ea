#!/usr/bin/env bash
# Session 10 run 4 (2026-12-07): the norm backward's row blocks interleaved (block b takes rows b, b + B, …: new)
# against run 3's consecutive blocks (prev), three processes each, alternating; verify --norm on CUDA; torch.compile
# in the same call.
set -u
top=$OUT; r=$OUT/r; mkdir -p $r
export PATH=$PATH:/usr/local/cuda/bin
nvidia-smi --query-gpu=name,driver_version,clocks.max.sm,clocks.max.mem --format=csv > $r/gpu.txt
mkdir -p /tmp/new /tmp/prev && tar xJf .gpu/rt.tar.xz -C /tmp/new && cp -r /tmp/new/. /tmp/prev/ && cp .gpu/prev/TinyFlash.dll .gpu/prev/TinyFlash.Bench.dll /tmp/prev/
for ptx in .gpu/*.ptx; do echo "== $ptx"; ptxas -arch=sm_90a -v "$ptx" -o /dev/null 2>&1 | grep -E "registers|spill|error" | head -6; done > $r/ptxas.txt 2>&1
for round in 1 2 3; do
  for v in prev new; do
    timeout 60 /tmp/$v/TinyFlash.Bench postprocess --backend cuda --kernels Backward --out $r/ab-$v.jsonl >> $r/ab-$v.txt 2>&1
  done
done
tar czf $top/all.tgz -C $r .
timeout 60 /tmp/new/TinyFlash.Bench postprocess --backend cuda --out $r/postprocess.jsonl >> $r/postprocess.txt 2>&1
(cd TinyFlash.Bench/baselines && timeout 100 python3 torch_norm.py --out $r/torch.jsonl) > $r/torch.txt 2>&1
tar czf $top/all.tgz -C $r .
timeout 115 /tmp/new/TinyFlash.Bench verify --norm --backend cuda > $r/verify-norm-cuda.txt 2>&1; echo "rc=$?" >> $r/verify-norm-cuda.txt
tar czf $top/all.tgz -C $r .
