#!/usr/bin/env bash
# Session 2 run 4 (kernel 2026-12-02.5): verify on CUDA (a subset), decode beside PyTorch (planning.sh decode), and the
# tuner against the planner on two prefill shapes, each step with a timeout.
set -u
out=$OUT; export DOTNET_BUNDLE_EXTRACT_BASE_DIR=$(mktemp -d) TINYFLASH_CACHE_DIR=$(mktemp -d); B=.gpu/TinyFlash.Bench
s=$(date +%s); t() { echo "$1 $(( $(date +%s) - s ))s" >> $out/times.txt; }
timeout 90 $B verify --backend cuda --instructions --filter "head dim 128|causal, odd|packed|few queries|softcap|window both" > $out/verify-cuda.txt 2>&1; t verify
OUT=$out timeout 170 bash TinyFlash.Bench/gpu/planning.sh decode; t decode
for shape in "-b 4 --heads 16 -n 4096 -d 128" "-b 4 --heads 32 -n 4096 -d 64 --causal"; do
  timeout 60 $B tune --backend cuda --dtype float16 --layout bhsd $shape --json $out/tune.jsonl >> $out/log.txt 2>&1
done; t tune
cd $out && tar czf all.tgz --exclude all.tgz *
