#!/usr/bin/env bash
# The PyTorch peer of `make bench` (issue #21): scripts/torch-peer.sh GGUF STEPS THREADS [fp32|bf16]
#
# Creates a virtual environment under .build/torch-peer on first use (CPU wheels of torch,
# transformers, gguf and accelerate from PyPI), then runs scripts/torch-peer.py: the bench's
# training step in PyTorch, eager fp32 (or bf16 autocast), on the same GGUF. Its last line is
# `peer tokens/s: X (...)`. When the environment cannot be set up (no PyPI, no venv module),
# it prints one line saying why and exits 3, and the bench carries on without the peer.
set -uo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
venv="$root/.build/torch-peer"
# pinned, so every bench run measures the same peer; `torch` from PyPI (CUDA libraries unused on a CPU)
packages=(torch==2.15.0 transformers==5.25.0 gguf==0.19.0 accelerate==1.16.0)
# set up again when the pins change (they are recorded in the venv once installed)
if [ "$(cat "$venv/.pins" 2>/dev/null)" != "${packages[*]}" ] || ! "$venv/bin/python" -c 'import torch, transformers, gguf' >/dev/null 2>&1; then
  echo "peer: setting up $venv (${packages[*]}; once, a few minutes)" >&2
  python3 -m venv "$venv" >/dev/null 2>&1 \
    && "$venv/bin/pip" install --quiet --disable-pip-version-check "${packages[@]}" >"$venv.log" 2>&1 \
    || { echo "PyTorch peer: not available (could not install ${packages[*]} into $venv; see $venv.log)"; exit 3; }
  echo "${packages[*]}" > "$venv/.pins"
fi
# the GGUF loader draws a tqdm bar of its own
export TQDM_DISABLE=1 HF_HUB_OFFLINE=1
exec "$venv/bin/python" "$root/scripts/torch-peer.py" "$@"
