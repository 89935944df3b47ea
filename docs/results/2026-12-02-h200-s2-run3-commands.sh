#!/usr/bin/env bash
# Session 2 run 3: everything in one call (device time is short): ptxas for the deferred tiles, the deferred tiles at
# N = 4096, the sweep grid with the planner and PyTorch flash/cuDNN, the comparison on identical inputs, the small grid,
# and the sparse cases beside FlexAttention. Each step has its own timeout; results are written as they come.
set -u
out=$OUT; export DOTNET_BUNDLE_EXTRACT_BASE_DIR=$(mktemp -d); B=.gpu/TinyFlash.Bench; torch=TinyFlash.Bench/baselines/torch_sdpa.py
s=$(date +%s); t() { echo "$1 $(( $(date +%s) - s ))s" >> $out/times.txt; }
nvidia-smi --query-gpu=name,driver_version,clocks.max.sm --format=csv > $out/gpu.txt
for ptx in .gpu/*.ptx; do echo "== $ptx"; ptxas -arch=sm_90a -v "$ptx" -o /dev/null 2>&1 | grep -E "registers|spill|C751" | head -4; done > $out/ptxas.txt; t ptxas
timeout 45 $B sweep --backend cuda --dtypes float16 --head-dims 128 --seqs 4096 --tensor-tiles wg2x128x3 --out $out/deferred.jsonl >> $out/log.txt 2>&1
timeout 45 $B sweep --backend cuda --dtypes float16 --head-dims 64 --seqs 4096 --tensor-tiles wg1x128x3 wg2x64x3 --out $out/deferred.jsonl >> $out/log.txt 2>&1; t deferred
timeout 220 $B sweep --backend cuda --out $out/sweep.jsonl --dump /tmp/dump --dump-seq 1024 >> $out/log.txt 2>&1; t sweep
timeout 110 python3 $torch --grid --backends flash cudnn --out $out/torch.jsonl >> $out/log.txt 2>&1; t torch
timeout 30 python3 $torch --compare /tmp/dump --out $out/compare.jsonl >> $out/log.txt 2>&1; t compare
for c in "" --causal; do
  timeout 20 $B run --backend cuda -b 1 --heads 8 -n 2048 -d 128 --dtype float16 --layout bhsd $c --json $out/small.jsonl >> $out/log.txt 2>&1
  timeout 30 python3 $torch --dtype float16 --head-dim 128 --seq 2048 --batch 1 --heads 8 $c --backends flash cudnn --out $out/small.jsonl >> $out/log.txt 2>&1
done; t small
timeout 90 $B sparse --backend cuda --dump /tmp/sparse --out $out/sparse.jsonl >> $out/log.txt 2>&1; t sparse
(cd TinyFlash.Bench/baselines && timeout 80 python3 torch_flex.py --dump /tmp/sparse --out $out/sparse.jsonl) >> $out/log.txt 2>&1; t flex
cd $out && tar czf all.tgz --exclude all.tgz *
