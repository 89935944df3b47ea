#!/usr/bin/env bash
# Session 10 run 5 (2026-12-07): the fp16 norm backward, interleaved row blocks (new) against consecutive ones (prev),
# four processes each, alternating, with the SM clock, power and throttle reasons sampled every second throughout.
set -u
top=$OUT; r=$OUT/r; mkdir -p $r
nvidia-smi --query-gpu=name,driver_version,clocks.max.sm,clocks.max.mem,power.limit --format=csv > $r/gpu.txt
mkdir -p /tmp/new /tmp/prev && tar xJf .gpu/rt.tar.xz -C /tmp/new && cp -r /tmp/new/. /tmp/prev/ && cp .gpu/prev/TinyFlash.dll .gpu/prev/TinyFlash.Bench.dll /tmp/prev/
nvidia-smi --query-gpu=timestamp,clocks.sm,clocks.mem,power.draw,temperature.gpu,clocks_event_reasons.active --format=csv -lms 500 > $r/clocks.csv 2>&1 &
smi=$!
for round in 1 2 3 4; do
  for v in prev new; do
    echo "$(date +%T.%N) $v round $round" >> $r/order.txt
    timeout 40 /tmp/$v/TinyFlash.Bench postprocess --backend cuda --kernels Backward --dtypes Float16 --out $r/ab-$v.jsonl >> $r/ab-$v.txt 2>&1
  done
done
kill $smi
tar czf $top/all.tgz -C $r .
