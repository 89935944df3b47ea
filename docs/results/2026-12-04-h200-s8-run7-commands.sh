#!/usr/bin/env bash
# Session 8 run 7 (2026-12-04): the last 85 s of the session's device time, on the machine still warm from run 6: the
# d128 training shapes run 6 had no time for. TinyFlash's side did not finish within its 45 s (kernel compilation
# first); only PyTorch's figures came back.
export DOTNET_BUNDLE_EXTRACT_BASE_DIR=$(mktemp -d); mkdir -p $OUT/r
timeout 45 .gpu/TinyFlash.Bench training --backend cuda --head-dims 128 --seqs 16384 4096 --out $OUT/r/training-d128.jsonl > $OUT/r/training-d128.txt 2>&1; echo "rc=$?" >> $OUT/r/training-d128.txt
(cd TinyFlash.Bench/baselines && timeout 25 python3 torch_sdpa_backward.py --head-dims 128 --seqs 16384 --out $OUT/r/training-d128.jsonl) >> $OUT/r/training-d128.txt 2>&1; echo "torch rc=$?" >> $OUT/r/training-d128.txt
