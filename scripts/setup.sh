#!/usr/bin/env bash
# Set up everything segal-dsl needs in ./.venv, idempotently.
#
#   scripts/setup.sh            core + runtime stack (torch, mmcv-full, mmsegmentation, wandb) + test tools
#   scripts/setup.sh --core     only the light front end (lark, jinja2, rich, pygls) + test tools
#   scripts/setup.sh --check    install nothing; exit 0 if the full set-up is up to date, else 1
#
# mmcv-full 1.7.2 ships only as source and must be compiled against the installed torch (~10 min on
# 2 cores). The built wheel is cached OUTSIDE the repo, keyed by (mmcv-full, torch, Python, platform),
# so a second setup on the same machine takes seconds. Traps handled here: docs/runtime-stack.md.
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$here"

mode=full
check_only=0
[[ "${1:-}" == "--core" ]] && mode=core
[[ "${1:-}" == "--check" ]] && check_only=1

PYTHON="${PYTHON:-python3.11}"
command -v "$PYTHON" >/dev/null 2>&1 || PYTHON=python3
MMCV_VERSION=1.7.2
MMSEG_VERSION=0.30.0
case "$(uname -m)" in
  x86_64)  TORCH_VERSION=2.14.1; TORCHVISION_VERSION=0.29.1 ;;
  aarch64) TORCH_VERSION=2.9.1;  TORCHVISION_VERSION=0.24.1 ;;
  *) echo "setup: unsupported machine $(uname -m)" >&2; exit 2 ;;
esac
CACHE_ROOT="${SEGAL_CACHE_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/segal-dsl}"

log() { printf '\033[1msetup:\033[0m %s\n' "$*" >&2; }

# A stamp of everything that decides the install: skip all work when nothing changed.
stamp_src="$mode $MMCV_VERSION $MMSEG_VERSION $TORCH_VERSION $(sha256sum pyproject.toml scripts/setup.sh | sha256sum)"
stamp_file=.venv/.segal-setup-$mode

if [[ $check_only == 1 ]]; then
  if [[ -f "$stamp_file" && "$(cat "$stamp_file")" == "$stamp_src" ]]; then
    echo "up to date ($mode); mmcv-full wheels cached in $CACHE_ROOT/wheels: $(ls "$CACHE_ROOT/wheels" 2>/dev/null | tr '\n' ' ')"
    exit 0
  fi
  echo "not set up: run bash scripts/setup.sh"
  exit 1
fi

if [[ ! -x .venv/bin/python ]]; then
  log "creating .venv with $($PYTHON --version)"
  "$PYTHON" -m venv .venv
fi
VPY="$here/.venv/bin/python"
PIP=("$VPY" -m pip --disable-pip-version-check)

if [[ -f "$stamp_file" && "$(cat "$stamp_file")" == "$stamp_src" ]]; then
  log "up to date ($mode)"
  exit 0
fi

log "core package + test tools"
"${PIP[@]}" install -q -e ".[test]"

if [[ "$mode" == full ]]; then
  if ! "$VPY" -c "import torch, sys; sys.exit(torch.__version__.split('+')[0] != '$TORCH_VERSION')" 2>/dev/null; then
    log "torch $TORCH_VERSION + torchvision $TORCHVISION_VERSION"
    "${PIP[@]}" install -q "torch==$TORCH_VERSION" "torchvision==$TORCHVISION_VERSION"
  fi
  py_tag="$("$VPY" -c 'import sys; print(f"cp{sys.version_info.major}{sys.version_info.minor}")')"
  torch_full="$("$VPY" -c 'import torch; print(torch.__version__)')"
  key="mmcv_full-$MMCV_VERSION-torch-${torch_full//+/_}-$py_tag-$(uname -s)-$(uname -m)"
  wheel_dir="$CACHE_ROOT/wheels/$key"
  if ! ls "$wheel_dir"/mmcv_full-*.whl >/dev/null 2>&1; then
    log "building mmcv-full $MMCV_VERSION against torch $torch_full (cached at $wheel_dir; ~10 min on 2 cores)"
    # mmcv-full's setup.py imports pkg_resources (setuptools<70) and needs torch visible: no isolation.
    "${PIP[@]}" install -q "setuptools<70" wheel ninja
    work="$(mktemp -d)"
    trap 'rm -rf "$work"' EXIT
    "${PIP[@]}" download -q --no-deps --no-binary :all: --no-build-isolation "mmcv-full==$MMCV_VERSION" -d "$work"
    tar -xzf "$work"/mmcv-full-"$MMCV_VERSION".tar.gz -C "$work"
    src="$work/mmcv-full-$MMCV_VERSION"
    # torch >= 2.10 headers need C++20; mmcv-full hard-codes -std=c++17.
    sed -i 's/-std=c++17/-std=c++20/g' "$src/setup.py"
    mkdir -p "$wheel_dir.partial"
    MMCV_WITH_OPS=1 MAX_JOBS="${MAX_JOBS:-$(nproc)}" "${PIP[@]}" wheel -q --no-deps --no-build-isolation \
      --no-cache-dir -w "$wheel_dir.partial" "$src"
    rm -rf "$wheel_dir" && mv "$wheel_dir.partial" "$wheel_dir"   # publish the cache entry atomically
  fi
  if ! "$VPY" -c "import mmcv, sys; sys.exit(mmcv.__version__ != '$MMCV_VERSION')" 2>/dev/null; then
    "${PIP[@]}" uninstall -q -y mmcv >/dev/null 2>&1 || true   # never mmcv and mmcv-full together
    "${PIP[@]}" install -q --no-deps --force-reinstall "$wheel_dir"/mmcv_full-*.whl
    "${PIP[@]}" install -q addict "yapf==0.40.1" packaging opencv-python numpy Pillow pyyaml regex
  fi
  log "mmsegmentation $MMSEG_VERSION, wandb, matplotlib, scikit-image"
  "${PIP[@]}" install -q "mmsegmentation==$MMSEG_VERSION" "yapf==0.40.1" wandb matplotlib opencv-python prettytable \
    "submitit>=1.5" "scikit-image>=0.22"
  "$VPY" -c "import mmcv.ops, mmseg, wandb, skimage.segmentation" || { echo "setup: runtime stack does not import" >&2; exit 1; }
fi

# System packages some tests need: each test is skipped, saying why, without its package. Installed only
# where apt is usable without a password prompt (CI runs as root); a failure never fails the set-up.
apt_optional() {  # apt_optional COMMAND WHY INSTALL...: install when COMMAND is missing
  local cmd="$1" why="$2"; shift 2
  [[ "$mode" == full ]] && ! command -v "$cmd" >/dev/null 2>&1 && command -v apt-get >/dev/null 2>&1 \
    && [[ "$(id -u)" == 0 ]] || return 0
  log "$cmd ($why)"
  "$@" >/dev/null 2>&1 || { apt-get update -q >/dev/null 2>&1 && "$@" >/dev/null 2>&1; } \
    || log "could not install $cmd: $why is skipped"
}
APT=(apt-get install -y -q --no-install-recommends)
apt_optional fish "the shell-completion test" "${APT[@]}" fish
apt_optional chromium "the report's browser test" "${APT[@]}" chromium
# slurm-wlm + munge for tests/test_slurm.py against real daemons (scripts/slurm-local.sh starts them).
apt_optional slurmctld "the Slurm tests" bash scripts/slurm-local.sh install

echo "$stamp_src" > "$stamp_file"
log "done ($mode): $("$VPY" -m segal_dsl --version 2>/dev/null || echo 'segal-dsl installed')"
