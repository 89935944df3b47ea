#!/usr/bin/env bash
# Session 9 run 2 (2026-12-07): three builds of the norm kernels in one call: prev (run 1's: every quad's inputs read
# before any is converted), staged (09d7d27: blocks of rows, the next chunk streamed into a shared-memory stage with
# cp.async) and new (staged, the dropout mask drawn 16 bits an element, one Philox call a thread for two quads, the
# neighbouring lane drawing the other half). ptxas, the norm matrix on CUDA and on PoCL's OpenCL device (new), the three
# interleaved twice (planner's shapes), new at forced group sizes and the rotary split, torch.compile last.
set -u
top=$OUT; r=$OUT/r; mkdir -p $r
nvidia-smi --query-gpu=name,driver_version,clocks.max.sm,clocks.max.mem --format=csv > $r/gpu.txt
mkdir -p /tmp/new && tar xJf .gpu/rt.tar.xz -C /tmp/new
for v in prev staged; do mkdir -p /tmp/$v && cp -r /tmp/new/. /tmp/$v/ && cp .gpu/$v/TinyFlash.dll .gpu/$v/TinyFlash.Bench.dll /tmp/$v/; done
for ptx in .gpu/*.ptx; do echo "== $ptx"; ptxas -arch=sm_90a -v "$ptx" -o /dev/null 2>&1 | grep -E "registers|spill|error" | head -6; done > $r/ptxas.txt 2>&1
timeout 100 /tmp/new/TinyFlash.Bench verify --norm --backend cuda > $r/verify-norm-cuda.txt 2>&1; echo "rc=$?" >> $r/verify-norm-cuda.txt
timeout 40 /tmp/new/TinyFlash.Bench verify --norm --backend opencl --filter "x1,|x31,|x33,|x768,|x1000,|x4096," > $r/verify-norm-opencl.txt 2>&1; echo "rc=$?" >> $r/verify-norm-opencl.txt
tar czf $top/all.tgz -C $r .
for round in 1 2; do
  for v in prev staged new; do
    timeout 60 /tmp/$v/TinyFlash.Bench postprocess --backend cuda --kernels Forward Backward --out $r/ab-$v.jsonl >> $r/ab-$v.txt 2>&1
  done
done
tar czf $top/all.tgz -C $r .
timeout 150 /tmp/new/TinyFlash.Bench postprocess --backend cuda --kernels Forward Backward Rotary --threads-per-row 128 256 512 --out $r/forced.jsonl > $r/forced.txt 2>&1
tar czf $top/all.tgz -C $r .
(cd TinyFlash.Bench/baselines && timeout 150 python3 torch_norm.py --out $r/torch.jsonl) > $r/torch.txt 2>&1
tar czf $top/all.tgz -C $r .
