#!/usr/bin/env bash
# The GPU checks of issue 21 as one short script, for the first lent GPU (H100/H200). Nothing here has run yet:
# no GPU has been lent to this project so far. Budget: ~10 min of device time.
#
#   bash benchmarks/gpu_run.sh [OUT_DIR]        # OUT_DIR defaults to $OUT (the device tool's folder) or gpu-out
#
# 1. the gpu-marked tests (CUDA against CPU, float32/float64 physics suite)  → OUT/pytest_gpu.txt
# 2. MD steps/s and batched-replica throughput on CUDA (benchmarks/bench_md.py --device cuda)  → OUT/md_cuda.json
# 3. the same with the e3nn kernels forced (--tensor-product e3nn), against cuEquivariance's (auto)  → OUT/md_cuda_e3nn.json
# 4. the environment: nvidia-smi, torch and CUDA versions  → OUT/env.txt
# Every step is bounded by `timeout`, so one hang cannot eat the budget; a failed step does not stop the others.
set -uo pipefail
cd "$(dirname "$0")/.."
out=${1:-${OUT:-gpu-out}}
mkdir -p "$out"
{ nvidia-smi; python -c "import torch; print('torch', torch.__version__, 'cuda', torch.version.cuda, torch.cuda.is_available())"
  python -c "from ase_relaxed.nn.cueq import cuequivariance_installed as c; print('cuequivariance (front end, kernels):', c())"; } \
    > "$out/env.txt" 2>&1
timeout 240 python -m pytest -q -m gpu -p no:cacheprovider tests > "$out/pytest_gpu.txt" 2>&1
echo "pytest -m gpu: exit $?" | tee -a "$out/summary.txt"
timeout 300 python benchmarks/bench_md.py --device cuda --out "$out/md_cuda.json" > "$out/bench_md.txt" 2>&1
echo "bench_md --device cuda: exit $?" | tee -a "$out/summary.txt"
timeout 180 python benchmarks/bench_md.py --device cuda --tensor-product e3nn --dtypes float32 --skip-mace \
    --out "$out/md_cuda_e3nn.json" > "$out/bench_md_e3nn.txt" 2>&1
echo "bench_md --device cuda --tensor-product e3nn: exit $?" | tee -a "$out/summary.txt"
tail -n 3 "$out/pytest_gpu.txt" "$out/bench_md.txt"
