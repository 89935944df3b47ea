# Shared by the device scripts (sourced): where results go, the published tool, the PyTorch baseline, and the
# register/spill report plus the CUDA correctness matrix that every kernel change is checked with first.
out=${OUT:-out}; mkdir -p "$out"
export DOTNET_BUNDLE_EXTRACT_BASE_DIR=$(mktemp -d)
bench=.gpu/TinyFlash.Bench
torch=TinyFlash.Bench/baselines/torch_sdpa.py

# ptxas -v (sm_90a: the warpgroup kernels' target; the others' sm_80 PTX compiles for it too) on every PTX file the
# development machine generated into .gpu/ (TinyFlash.Bench ptx -o): registers, spills, wgmma serialisation
# (C7514/C7515), fences ptxas had to insert (C7519). Then the warpgroup products on known operands and verify on CUDA
# (VERIFY_FILTER: only the cases whose description contains one of its '|'-separated parts).
check_kernels() {
  for ptx in .gpu/*.ptx; do
    echo "== $ptx"; ptxas -arch=sm_90a -v "$ptx" -o /dev/null 2>&1 | grep -E "registers|spill|error|Performance Loss" | head -4
    echo "   $(ptxas -arch=sm_90a -v "$ptx" -o /dev/null 2>&1 | grep -c C7519) fences inserted by ptxas (C7519)"
  done > "$out/ptxas.txt" 2>&1
  $bench verify --backend cuda --instructions ${VERIFY_FILTER:+--filter "$VERIFY_FILTER"} > "$out/verify-cuda.txt" 2>&1
  echo "verify rc=$?" >> "$out/verify-cuda.txt"
}
