#!/usr/bin/env bash
# Times every tile plan of the portable kernel on the grid the planner's rule is fitted to
# (B·N = 16384, H·d = 2048, N = 4096 and 1024; fp32 and fp16; not causal), one JSON line each in $OUT/tiles.jsonl.
set -u
out=${OUT:-out}; mkdir -p "$out"
export DOTNET_BUNDLE_EXTRACT_BASE_DIR=$(mktemp -d)
bench=.gpu/TinyFlash.Bench
plans=${PLANS:-128,16 64,16 32,16 256,8 128,8 64,8 32,8 16,8}
for dtype in float32 float16; do
  for d in ${HEAD_DIMS:-64 128 256}; do
    for n in ${SEQS:-4096}; do
      heads=$((2048 / d)); batch=$((16384 / n))
      for plan in $plans; do
        m=${plan%,*}; x=${plan#*,}
        line=$($bench run --backend cuda -b $batch --heads $heads -n $n -d $d --dtype $dtype --block-m $m --threads-x $x \
          --json "$out/tiles.jsonl" 2>&1 | grep -E "speed|rror|FAIL" | tr -s ' ' | head -c 160)
        echo "$dtype d=$d n=$n $m x $x: $line"
      done
    done
  done
done
