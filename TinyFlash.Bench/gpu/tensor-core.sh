#!/usr/bin/env bash
# The tensor-core kernels (mma.sync, and wgmma on Hopper) on the GPU machine, in phases (each writes under $OUT):
#   check  ptxas -v on the PTX files in .gpu/ (registers, spills, wgmma serialisation), the warpgroup products on known
#          operands, then `verify` on CUDA (fp16/bf16 run on tensor cores)
#   tiles  candidate tiles of both kernels (wgWxN: warpgroup) on fp16 N=4096 (d=64, 128; causal and not) beside PyTorch
#   full   the sweep grid, PyTorch's grid (TORCH_BACKENDS: a subset of flash cudnn efficient), the output comparison on
#          identical inputs, and the report
#   dims   candidate tiles for head dims 32, 96 and 256 (fp16, N=4096) beside PyTorch
#   profile  Nsight Compute (full set, and stall samples per SASS instruction) on one launch of the planner's fp16
#          d=128 and d=64 kernels (N=4096; PROFILE_DIMS overrides the head dims)
#   sass   the SASS of every PTX file in .gpu/
set -u
source "$(dirname "$0")/common.sh"
for phase in "$@"; do
  case $phase in
  check)
    check_kernels
    ;;
  tiles)
    for d in 64 128; do
      case $d in 64) tiles=${TILES64:-4x2x128 4x2x64 wg1x128 wg2x64 wg2x128};; *) tiles=${TILES128:-4x2x64 8x2x32 wg2x128x3 wg2x128 wg2x64 wg1x128};; esac
      $bench sweep --backend cuda --dtypes float16 --head-dims $d --seqs ${SEQS:-4096} --tensor-tiles $tiles \
        --out "$out/tiles.jsonl" >> "$out/tiles.txt" 2>&1
      for n in ${SEQS:-4096}; do
        for c in "" --causal; do
          python3 $torch --dtype float16 --head-dim $d --seq $n --batch $((16384 / n)) --heads $((2048 / d)) $c \
            --backends flash cudnn --out "$out/tiles-torch.jsonl" > /dev/null 2>> "$out/tiles.txt"
        done
      done
    done
    ;;
  full)
    gpu=$(nvidia-smi --query-gpu=name --format=csv,noheader | head -1 | sed 's/^NVIDIA //')
    $bench sweep --backend cuda --out "$out/sweep.jsonl" --dump /tmp/dump --dump-seq 1024 > "$out/sweep.txt" 2>&1
    python3 $torch --grid ${TORCH_BACKENDS:+--backends $TORCH_BACKENDS} --out "$out/torch.jsonl" > /dev/null 2>> "$out/sweep.txt"
    python3 $torch --compare /tmp/dump --out "$out/compare.jsonl" > /dev/null 2>> "$out/sweep.txt"
    $bench report "$out/sweep.jsonl" "$out/torch.jsonl" "$out/compare.jsonl" --markdown "$out/benchmarks.md" \
      --plot "$out/tensor-core.svg" --title "Attention forward on the $gpu: TinyFlash tensor-core kernels vs PyTorch SDPA" >> "$out/sweep.txt" 2>&1
    ;;
  dims)
    for d in 32 96 256; do
      case $d in 256) tiles="8x1x32 4x1x32 wg2x64 wg1x64";; *) tiles="4x2x128 4x2x64 8x1x64 8x2x64";; esac
      $bench sweep --backend cuda --dtypes float16 --head-dims $d --seqs 4096 --width $((d == 96 ? 1536 : 2048)) \
        --tensor-tiles $tiles --out "$out/dims.jsonl" >> "$out/dims.txt" 2>&1
      for c in "" --causal; do
        python3 $torch --dtype float16 --head-dim $d --seq 4096 --batch 4 --heads $(( (d == 96 ? 1536 : 2048) / d )) $c \
          --backends flash cudnn --out "$out/dims-torch.jsonl" > /dev/null 2>> "$out/dims.txt"
      done
    done
    ;;
  profile)
    stalls=$(for r in wait short_scoreboard long_scoreboard math_pipe_throttle mio_throttle barrier not_selected selected \
      dispatch_stall lg_throttle no_instruction branch_resolving tex_throttle misc; do
      printf 'smsp__average_warps_issue_stalled_%s_per_issue_active.ratio,' $r; done)
    conflicts=l1tex__data_bank_conflicts_pipe_lsu_mem_shared_op_ldsm.sum,l1tex__data_pipe_lsu_wavefronts_mem_shared_op_ldsm.sum,smsp__inst_executed_op_ldsm.sum,l1tex__data_bank_conflicts_pipe_lsu_mem_shared_op_ldgsts.sum,l1tex__data_pipe_lsu_wavefronts_mem_shared_op_ldgsts.sum,l1tex__data_bank_conflicts_pipe_lsu_mem_shared.sum
    for d in ${PROFILE_DIMS:-128 64}; do
      ncu --launch-skip 3 --launch-count 1 --set full --import-source no --metrics "${stalls}${conflicts}" -o /tmp/ncu-d$d \
        $bench run --backend cuda -b 4 --heads $((2048 / d)) -n 4096 -d $d --dtype float16 --layout bhsd > "$out/ncu-d$d.txt" 2>&1
      ncu -i /tmp/ncu-d$d.ncu-rep --page details >> "$out/ncu-d$d.txt" 2>&1
      # per SASS instruction: warp stall samples by reason, so the hot spots of the main loop can be read offline
      ncu -i /tmp/ncu-d$d.ncu-rep --page source --csv --print-source sass > "$out/ncu-d$d-sass.csv" 2>&1
    done
    ;;
  sass)   # the SASS of every PTX file in .gpu/ (ptxas for sm_90a, cuobjdump), to read the scheduled main loop offline
    for ptx in .gpu/*.ptx; do
      ptxas -arch=sm_90a "$ptx" -o /tmp/k.cubin && cuobjdump -sass /tmp/k.cubin > "$out/$(basename "$ptx" .ptx).sass" 2>&1
    done
    ;;
  esac
done
