#!/usr/bin/env bash
# Session 8 run 2 (2026-12-04): the training grid (fp16, bhsd, 16k tokens, d 64/128, N 1k-16k, causal and not,
# dropout 0.1) beside PyTorch's flash and cuDNN in the same call; Nsight Compute of the d64 forward with dropout.
set -u
top=$OUT; r=$OUT/r; mkdir -p $r
export DOTNET_BUNDLE_EXTRACT_BASE_DIR=$(mktemp -d)
timeout 230 .gpu/TinyFlash.Bench training --backend cuda --out $r/training.jsonl > $r/training.txt 2>&1; echo "rc=$?" >> $r/training.txt
tar czf $top/all.tgz -C $r .
(cd TinyFlash.Bench/baselines && timeout 150 python3 torch_sdpa_backward.py --out $r/training.jsonl) >> $r/training.txt 2>&1; echo "torch rc=$?" >> $r/training.txt
tar czf $top/all.tgz -C $r .
command -v ncu > /dev/null || export PATH=$PATH:$(ls -d /opt/nvidia/nsight-compute/*/ | tail -1)
timeout 150 ncu --clock-control none --section SpeedOfLight --section Occupancy --section WarpStateStats --section InstructionStats --section SourceCounters --launch-skip 3 --launch-count 1 -f -o $r/ncu-fwd-dropout .gpu/TinyFlash.Bench run -b 4 --heads 32 -n 4096 --dtype float16 --layout bhsd -d 64 --dropout 0.1 > $r/ncu-fwd-dropout.log 2>&1
ncu --import $r/ncu-fwd-dropout.ncu-rep --page details > $r/ncu-fwd-dropout.txt 2>&1
ncu --import $r/ncu-fwd-dropout.ncu-rep --page source --csv --print-source sass > $r/ncu-fwd-dropout-sass.csv 2>&1
rm -f $r/ncu-fwd-dropout.ncu-rep; gzip $r/ncu-fwd-dropout-sass.csv
tar czf $top/all.tgz -C $r .
