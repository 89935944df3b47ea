#!/usr/bin/env bash
# Session 9 run 1 (2026-12-07): the norm kernels fetching every quad's inputs before converting any, with dropout
# tested once a pass (new), against the kernels of a1476eb (old), in one call: ptxas of both, the norm matrix on CUDA,
# old and new interleaved (planner's shapes, fp16 and fp32), the new kernels at forced group sizes, torch.compile.
set -u
top=$OUT; r=$OUT/r; mkdir -p $r
nvidia-smi --query-gpu=name,driver_version,clocks.max.sm,clocks.max.mem --format=csv > $r/gpu.txt
mkdir -p /tmp/new /tmp/old && tar xJf .gpu/rt.tar.xz -C /tmp/new && cp -r /tmp/new/. /tmp/old/ && cp .gpu/old/TinyFlash.dll .gpu/old/TinyFlash.Bench.dll /tmp/old/
for ptx in .gpu/*.ptx .gpu/old/*.ptx; do echo "== $ptx"; ptxas -arch=sm_90a -v "$ptx" -o /dev/null 2>&1 | grep -E "registers|spill|error" | head -6; done > $r/ptxas.txt 2>&1
timeout 100 /tmp/new/TinyFlash.Bench verify --norm --backend cuda > $r/verify-norm-cuda.txt 2>&1; echo "rc=$?" >> $r/verify-norm-cuda.txt
tar czf $top/all.tgz -C $r .
for round in 1 2; do
  for v in old new; do
    timeout 60 /tmp/$v/TinyFlash.Bench postprocess --backend cuda --kernels Forward Backward --out $r/ab-$v.jsonl >> $r/ab-$v.txt 2>&1
  done
done
tar czf $top/all.tgz -C $r .
timeout 150 /tmp/new/TinyFlash.Bench postprocess --backend cuda --kernels Forward Backward --threads-per-row 128 256 512 --out $r/forced.jsonl > $r/forced.txt 2>&1
tar czf $top/all.tgz -C $r .
(cd TinyFlash.Bench/baselines && timeout 150 python3 torch_norm.py --out $r/torch.jsonl) > $r/torch.txt 2>&1
tar czf $top/all.tgz -C $r .
