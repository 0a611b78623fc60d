#!/usr/bin/env bash
# The checks that need a GPU (CI never runs them): run this on a machine with one CUDA device.
#
#   scripts/gpu-check.sh [OUT]      figures to OUT (default: gpu-check.txt), one `key: value` a line
#
#   1. the toy experiment on CUDA, one process (mmseg's own CUDA path; MMDataParallel)
#   2. the same run as 1-GPU DDP: torchrun --nproc-per-node 1, nccl, `--launcher pytorch`; its labels
#      must equal those of 1 (same seed; the query's scoring is deterministic given the weights)
#   3. benchmarks/bench_query.py on the GPU: DeepLabV3+ R50 at 512x1024, batch 8, fp32 and fp16 autocast
#
# Exits 2 at once, saying so, when torch sees no CUDA device. Untested on a GPU so far (written on a
# CPU-only machine): the first run on one is its test.
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$here"
PY="${PYTHON:-$here/.venv/bin/python}"
out="$(realpath -m "${1:-gpu-check.txt}")"
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
export SEGAL_TOY_DIR="${SEGAL_TOY_DIR:-$work/toy}" WANDB_MODE=disabled

if ! "$PY" -c 'import sys, torch; sys.exit(0 if torch.cuda.is_available() else 1)' 2>/dev/null; then
  echo "gpu-check: no CUDA device visible to torch ($("$PY" -c 'import torch; print(torch.__version__, "cuda", torch.version.cuda)' 2>&1 | tail -1)); run this on a GPU machine" >&2
  exit 2
fi

: >"$out"
fig() { printf '%s: %s\n' "$1" "$2" | tee -a "$out"; }
fig device "$("$PY" -c 'import torch; print(torch.cuda.get_device_name(0))')"
fig torch "$("$PY" -c 'import torch; print(torch.__version__, "cuda", torch.version.cuda)')"

cat >"$work/gpu.seg" <<EOF
experiment toy_gpu {
    extends "$here/examples/toy_pixel.seg"
    schedule epochs { train 5; query; train 5; query; train 2 }
    delete visualize
}
EOF

secs() { local t0=$SECONDS; "$@"; echo $((SECONDS - t0)); }

t=$(secs "$PY" -m segal_dsl.cli run "$work/gpu.seg" --work-dir "$work/one" >"$work/one.log" 2>&1) \
  || { tail -20 "$work/one.log" >&2; echo "gpu-check: the CUDA run failed" >&2; exit 1; }
fig "toy run, 1 GPU, seconds" "$t"
fig "toy run, mIoU per round" "$("$PY" -c "import json; print([r['mIoU'] for r in json.load(open('$work/one/report.json'))['rounds']])")"

port=$("$PY" -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
t=$(secs "$PY" -m torch.distributed.run --nproc-per-node=1 --master-port="$port" -m segal_dsl.cli run "$work/gpu.seg" \
  --work-dir "$work/ddp" --launcher pytorch >"$work/ddp.log" 2>&1) \
  || { tail -20 "$work/ddp.log" >&2; echo "gpu-check: the 1-GPU DDP run failed" >&2; exit 1; }
grep -q "world size 1" "$work"/ddp/*.log || { echo "gpu-check: the DDP run did not initialise torch.distributed" >&2; exit 1; }
fig "toy run, 1-GPU DDP (nccl), seconds" "$t"
same=$("$PY" -c "import json; a, b = (json.load(open(f'$work/{d}/masks/labels.json'))['sha256'] for d in ('one', 'ddp')); print(a == b)")
fig "DDP labels equal the single-process labels" "$same"

for fp in "" "--fp16"; do  # DeepLabV3+ R50 at 512x1024, random weights and images, batch 8, every batched heuristic
  "$PY" benchmarks/bench_query.py --model deeplabv3plus_r50 --device cuda --batch-size 8 $fp | tee "$work/bench.txt"
  fig "bench_query deeplabv3plus_r50 cuda batch 8${fp:+ fp16}" "$(grep '^ratio' "$work/bench.txt" | tr '\n' ' ')"
  sed 's/^/    /' "$work/bench.txt" >>"$out"
done
[[ "$same" == True ]] || { echo "gpu-check: the DDP labels differ from the single-process labels" >&2; exit 1; }
echo "gpu-check: figures in $out" >&2
