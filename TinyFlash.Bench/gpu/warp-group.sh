#!/usr/bin/env bash
# The warpgroup (wgmma) forward kernel on the GPU machine, in phases (each writes under $OUT):
#   check  ptxas -v for sm_90a on the PTX files in .gpu/ (registers, spills, wgmma serialisation warnings); the warpgroup
#          products on known operands (verify --instructions); the correctness matrix's cases the warpgroup kernel runs
#   tiles  the warpgroup tiles and the mma.sync kernel's best on fp16 N=4096 (d=64, 128; causal and not) beside PyTorch
#   dims   the same for head dim 256
set -u
source "$(dirname "$0")/common.sh"
for phase in "$@"; do
  case $phase in
  check)
    for ptx in .gpu/*.ptx; do
      echo "== $ptx"; ptxas -arch=sm_90a -v "$ptx" -o /dev/null 2>&1 | grep -v "Compiling entry\|Function properties for [A-Z]\|C7519" | head -12
      echo "   $(ptxas -arch=sm_90a -v "$ptx" -o /dev/null 2>&1 | grep -c C7519) fences inserted by ptxas (C7519)"
    done > "$out/ptxas.txt" 2>&1
    timeout ${VERIFY_TIMEOUT:-240} $bench verify --backend cuda --instructions \
      --filter "${VERIFY_FILTER:-head dim 64|head dim 128|head dim 192|head dim 256|causal, odd lengths|window both sides|batch > 1, Bhsd|grouped-query|packed sequences|softcap and ALiBi|block-sparse}" \
      > "$out/verify-cuda.txt" 2>&1; echo "verify rc=$?" >> "$out/verify-cuda.txt"
    ;;
  tiles)
    for d in 64 128; do
      case $d in 64) tiles=${TILES64:-wg2x128 wg2x64 wg1x128 wg2x128x3 4x2x128};; *) tiles=${TILES128:-wg2x128 wg2x64 wg1x128 wg2x128x3 4x2x64};; esac
      timeout ${SWEEP_TIMEOUT:-200} $bench sweep --backend cuda --dtypes float16 --head-dims $d --seqs ${SEQS:-4096} --tensor-tiles $tiles \
        --out "$out/tiles.jsonl" >> "$out/tiles.txt" 2>&1
      for n in ${SEQS:-4096}; do
        for c in "" --causal; do
          python3 $torch --dtype float16 --head-dim $d --seq $n --batch $((16384 / n)) --heads $((2048 / d)) $c \
            --backends flash cudnn --out "$out/tiles-torch.jsonl" > /dev/null 2>> "$out/tiles.txt"
        done
      done
    done
    ;;
  dims)
    # Head dim 256 (multiples of 64 beyond 128) beside the mma.sync kernel's best and PyTorch.
    timeout ${SWEEP_TIMEOUT:-200} $bench sweep --backend cuda --dtypes float16 --head-dims 256 --seqs 4096 --tensor-tiles wg2x64 wg1x64 wg1x128 8x1x32 \
      --out "$out/dims.jsonl" >> "$out/dims.txt" 2>&1
    for c in "" --causal; do
      python3 $torch --dtype float16 --head-dim 256 --seq 4096 --batch 4 --heads 8 $c --backends flash cudnn --out "$out/dims-torch.jsonl" > /dev/null 2>> "$out/dims.txt"
    done
    ;;
  esac
done
