#!/usr/bin/env bash
# Issue 4 on the GPU machine (planner, key splits, decode, tuner, compile cost), in phases; every result under $OUT
# in at most eight files (the device tool brings back eight):
#   verify   ptxas -v on the PTX files in .gpu/, then `verify` on CUDA (the matrix includes decode and key-split cases)
#   decode   TinyFlash decode (Hq=32, Hkv=8, d=128, fp16; B 1 and 8; Sk 4096 and 32768), planner and tuned, and with
#            explicit cache lengths; PyTorch's flash and cuDNN backends on the same grid; all in one file
#   small    B=1, H=8, N=2048, d=128, fp16 (too few groups to fill 132 multiprocessors without splits): planner and
#            tuned, causal and not, two smaller tiles without splits, beside PyTorch
#   tuned    `sweep --tuned`: tuned against planner on the fp16 grid (d 64 and 128, N 1024, 4096, 16384, both masks),
#            PyTorch flash on the same grid
#   decode-tiles  decode at B=8, Sk=32768 with each small tile and split count forced, beside PyTorch
#   jit      compile cost per kernel variant, cold and warm
#   packed-decode  1, 2, 4, 8 and 16 new tokens (query heads packed as rows), layouts bhsd and bshd, B 1 and 8,
#            Sk 4096 and 32768, beside PyTorch flash and cuDNN on the same shapes; all in one file
#   pipeline `tune` on prefill and decode shapes: every candidate's time, among them the planner's tile with other
#            pipeline depths and the other grid order (same block of every head together), in one JSON-lines file
set -u
source "$(dirname "$0")/common.sh"
export TINYFLASH_CACHE_DIR=$(mktemp -d)
log="$out/log.txt"
for phase in "$@"; do
  echo "=== $phase $(date -u +%FT%TZ)" >> "$log"
  case $phase in
  verify)
    check_kernels
    ;;
  decode)
    $bench decode --backend cuda --tuned --out "$out/decode.jsonl" >> "$log" 2>&1
    $bench decode --backend cuda --cache-lengths full --out "$out/decode.jsonl" >> "$log" 2>&1
    python3 $torch --decode --heads 32 --kv-heads 8 --backends flash cudnn --out "$out/decode.jsonl" >> "$log" 2>&1
    # 16 new tokens (speculative decoding): causal among themselves, so the query heads are not packed as rows
    $bench decode --backend cuda --queries 16 --batches 8 --keys 4096 32768 --out "$out/decode.jsonl" >> "$log" 2>&1
    python3 $torch --decode --queries 16 --heads 32 --kv-heads 8 --batches 8 --keys 4096 32768 --backends flash cudnn \
      --out "$out/decode.jsonl" >> "$log" 2>&1
    ;;
  small)
    $bench sweep --backend cuda --tuned --dtypes float16 --head-dims 128 --seqs 2048 --tokens 2048 --width 1024 \
      --out "$out/small.jsonl" >> "$log" 2>&1
    for t in 2x2x32 2x2x64; do   # smaller blocks instead of key splits: no combine pass, fewer warps a multiprocessor
      $bench run --backend cuda -b 1 --heads 8 -n 2048 -d 128 --dtype float16 --layout bhsd --tensor-tile $t \
        --json "$out/small.jsonl" >> "$log" 2>&1
    done
    for c in "" --causal; do
      python3 $torch --dtype float16 --head-dim 128 --seq 2048 --batch 1 --heads 8 $c --backends flash cudnn \
        --out "$out/small.jsonl" >> "$log" 2>&1
    done
    ;;
  tuned)
    $bench sweep --backend cuda --tuned --dtypes float16 --head-dims 64 128 --seqs 1024 4096 16384 \
      --out "$out/tuned.jsonl" >> "$log" 2>&1
    python3 $torch --grid --dtypes float16 --seqs 1024 4096 16384 --backends flash --out "$out/tuned.jsonl" >> "$log" 2>&1
    cp "$TINYFLASH_CACHE_DIR/tuning.json" "$out/tuning.json"
    ;;
  decode-tiles)   # decode at B=8, Sk=32768: each small tile with its split counts, forced, beside PyTorch
    for plan in "1x1x64 6" "1x1x64 12" "1x1x32 6" "1x1x32 12" "1x1x32 24" "1x1x128 3" "1x1x128 6"; do
      set -- $plan
      $bench run --backend cuda -b 8 --heads 32 --kv-heads 8 --seq-q 1 --seq-k 32768 -d 128 --dtype float16 --layout bhsd \
        --causal --tensor-tile $1 --key-splits $2 --json "$out/decode-tiles.jsonl" >> "$log" 2>&1
    done
    python3 $torch --decode --heads 32 --kv-heads 8 --batches 8 --keys 32768 --backends flash cudnn \
      --out "$out/decode-tiles.jsonl" >> "$log" 2>&1
    ;;
  jit)
    $bench jit --backend cuda --out "$out/jit.jsonl" >> "$log" 2>&1
    ;;
  packed-decode)
    for n in 1 2 4 8 16; do
      for layout in bhsd bshd; do
        timeout 60 $bench decode --backend cuda --queries $n --layout $layout --out "$out/packed-decode.jsonl" >> "$log" 2>&1
      done
      timeout 90 python3 $torch --decode --queries $n --heads 32 --kv-heads 8 --backends flash cudnn \
        --out "$out/packed-decode.jsonl" >> "$log" 2>&1
    done
    ;;
  pipeline)
    for shape in "-b 4 --heads 16 -n 4096 -d 128" "-b 4 --heads 16 -n 4096 -d 128 --causal" "-b 4 --heads 32 -n 4096 -d 64" \
                 "-b 4 --heads 8 -n 4096 -d 256" "-b 1 --heads 32 --kv-heads 8 -n 16384 -d 128 --causal" \
                 "-b 8 --heads 32 --kv-heads 8 --seq-q 16 --seq-k 32768 -d 128 --causal"; do
      timeout 120 $bench tune --backend cuda --dtype float16 --layout bhsd $shape --json "$out/pipeline.jsonl" >> "$log" 2>&1
    done
    ;;
  esac
done
echo "=== done $(date -u +%FT%TZ)" >> "$log"
