#!/usr/bin/env bash
# Session 10 run 8 (2026-12-07): the norm backward's row statistics read a warp's worth of rows at a time and shuffled
# (new) against 59a2b49's per-row loads (prev), fp16, three processes each, alternating; ptxas; verify --norm on CUDA
# for the short rows (150 of them now) and the exact rows.
set -u
top=$OUT; r=$OUT/r; mkdir -p $r
export PATH=$PATH:/usr/local/cuda/bin
mkdir -p /tmp/new /tmp/prev && tar xJf .gpu/rt.tar.xz -C /tmp/new && cp -r /tmp/new/. /tmp/prev/ && cp .gpu/prev/TinyFlash.dll .gpu/prev/TinyFlash.Bench.dll /tmp/prev/
for ptx in .gpu/*.ptx; do echo "== $ptx"; ptxas -arch=sm_90a -v "$ptx" -o /dev/null 2>&1 | grep -E "registers|spill|error" | head -6; done > $r/ptxas.txt 2>&1
for round in 1 2 3; do
  for v in prev new; do
    timeout 30 /tmp/$v/TinyFlash.Bench postprocess --backend cuda --kernels Backward --dtypes Float16 --out $r/ab-$v.jsonl >> $r/ab-$v.txt 2>&1
  done
done
tar czf $top/all.tgz -C $r .
timeout 60 /tmp/new/TinyFlash.Bench verify --norm --backend cuda --filter "x1,|x31,|x33,|x768,|x4096," > $r/verify-norm-cuda.txt 2>&1; echo "rc=$?" >> $r/verify-norm-cuda.txt
tar czf $top/all.tgz -C $r .
