#!/usr/bin/env bash
# Session 9 run 2 (2026-12-07): the norm kernels looping over blocks of rows and streaming the next chunk's x and
# residual (backward: dy, x and residual) into a shared-memory stage with cp.async (new), against run 1's kernels, which
# read every quad's inputs before converting any but streamed nothing (prev), in one call: ptxas, the norm matrix on
# CUDA and on PoCL's OpenCL device, prev and new interleaved (planner's shapes), new at forced group sizes, torch.compile.
set -u
top=$OUT; r=$OUT/r; mkdir -p $r
nvidia-smi --query-gpu=name,driver_version,clocks.max.sm,clocks.max.mem --format=csv > $r/gpu.txt
mkdir -p /tmp/new /tmp/prev && tar xJf .gpu/rt.tar.xz -C /tmp/new && cp -r /tmp/new/. /tmp/prev/ && cp .gpu/prev/TinyFlash.dll .gpu/prev/TinyFlash.Bench.dll /tmp/prev/
for ptx in .gpu/*.ptx; do echo "== $ptx"; ptxas -arch=sm_90a -v "$ptx" -o /dev/null 2>&1 | grep -E "registers|spill|error" | head -6; done > $r/ptxas.txt 2>&1
timeout 100 /tmp/new/TinyFlash.Bench verify --norm --backend cuda > $r/verify-norm-cuda.txt 2>&1; echo "rc=$?" >> $r/verify-norm-cuda.txt
timeout 40 /tmp/new/TinyFlash.Bench verify --norm --backend opencl --filter "x1,|x31,|x33,|x768,|x1000,|x4096," > $r/verify-norm-opencl.txt 2>&1; echo "rc=$?" >> $r/verify-norm-opencl.txt
tar czf $top/all.tgz -C $r .
for round in 1 2; do
  for v in prev new; do
    timeout 60 /tmp/$v/TinyFlash.Bench postprocess --backend cuda --kernels Forward Backward --out $r/ab-$v.jsonl >> $r/ab-$v.txt 2>&1
  done
done
tar czf $top/all.tgz -C $r .
timeout 150 /tmp/new/TinyFlash.Bench postprocess --backend cuda --kernels Forward Backward Rotary --threads-per-row 128 256 512 1024 --out $r/forced.jsonl > $r/forced.txt 2>&1
tar czf $top/all.tgz -C $r .
(cd TinyFlash.Bench/baselines && timeout 150 python3 torch_norm.py --out $r/torch.jsonl) > $r/torch.txt 2>&1
tar czf $top/all.tgz -C $r .
