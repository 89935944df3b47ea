#!/usr/bin/env bash
# Session 11 run 2 (2026-12-07): the norm backward at 16 features a thread in every storage type (fp16: 256 threads of
# four quads, ptxas's registers; new) against 3db1289 (prev: fp16 at 512 threads of two quads, 64 registers), both with
# new's TinyFlash.Bench: ptxas; the fp16 backward, two processes each, in turn; every kernel once with new;
# torch.compile in the same call. (Trimmed to the session's last device minutes: no verify, no 80-register variant.)
set -u
top=$OUT; r=$OUT/r; mkdir -p $r
export PATH=$PATH:/usr/local/cuda/bin
nvidia-smi --query-gpu=name,driver_version,clocks.max.sm,clocks.max.mem --format=csv > $r/gpu.txt
mkdir -p /tmp/new /tmp/prev && tar xJf .gpu/rt.tar.xz -C /tmp/new && cp -r /tmp/new/. /tmp/prev/ && cp .gpu/prev/TinyFlash.dll /tmp/prev/
for ptx in .gpu/*.ptx; do echo "== $ptx"; ptxas -arch=sm_90a -v "$ptx" -o /dev/null 2>&1 | grep -E "registers|spill|error" | head -6; done > $r/ptxas.txt 2>&1
for round in 1 2; do
  for v in prev new; do
    timeout 30 /tmp/$v/TinyFlash.Bench postprocess --backend cuda --kernels Backward --dtypes Float16 --out $r/ab-$v.jsonl >> $r/ab-$v.txt 2>&1
  done
done
tar czf $top/all.tgz -C $r .
timeout 40 /tmp/new/TinyFlash.Bench postprocess --backend cuda --out $r/postprocess.jsonl >> $r/postprocess.txt 2>&1
tar czf $top/all.tgz -C $r .
(cd TinyFlash.Bench/baselines && timeout 70 python3 torch_norm.py --out $r/torch.jsonl) > $r/torch.txt 2>&1
tar czf $top/all.tgz -C $r .
