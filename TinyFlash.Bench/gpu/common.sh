# Shared by the device scripts (sourced): where results go, the published tool, the PyTorch baseline, and the
# register/spill report plus the CUDA correctness matrix that every kernel change is checked with first.
out=${OUT:-out}; mkdir -p "$out"
export DOTNET_BUNDLE_EXTRACT_BASE_DIR=$(mktemp -d)
bench=.gpu/TinyFlash.Bench
torch=TinyFlash.Bench/baselines/torch_sdpa.py

# ptxas -v on every PTX file the development machine generated into .gpu/ (TinyFlash.Bench ptx -o), then verify on CUDA.
check_kernels() {
  for ptx in .gpu/*.ptx; do
    echo "== $ptx"; ptxas -arch=sm_90 -v "$ptx" -o /dev/null 2>&1 | grep -E "registers|spill|error" | head -4
  done > "$out/ptxas.txt" 2>&1
  $bench verify --backend cuda > "$out/verify-cuda.txt" 2>&1; echo "verify rc=$?" >> "$out/verify-cuda.txt"
}
