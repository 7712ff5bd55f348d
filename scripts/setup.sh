#!/usr/bin/env bash
# Installs the Debian packages tsrec needs, only those that are missing.
# Root runs apt-get directly; otherwise sudo is used; if neither works, say what to run.
set -euo pipefail
packages=(libopenblas-dev libdnnl-dev libarchive-dev libopenmpi-dev openmpi-bin libgnuplot-iostream-dev gnuplot-nox
          libboost-iostreams-dev libboost-system-dev libboost-filesystem-dev python3-pip)
missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
# pip may come from elsewhere (pyenv); only ask apt for it when no pip works at all.
if command -v pip3 >/dev/null 2>&1 || command -v pip >/dev/null 2>&1 || python3 -m pip --version >/dev/null 2>&1; then
  missing=("${missing[@]/python3-pip}")
fi
want=()
for p in "${missing[@]}"; do [ -n "$p" ] && want+=("$p"); done
[ ${#want[@]} -eq 0 ] && exit 0
echo "setup: installing ${want[*]}"
if [ "$(id -u)" -eq 0 ]; then
  apt=(apt-get)
elif command -v sudo >/dev/null 2>&1 && sudo -n true 2>/dev/null; then
  apt=(sudo apt-get)
else
  echo "setup: missing Debian packages: ${want[*]}" >&2
  echo "setup: run as root (or with sudo):  apt-get update && apt-get install -y ${want[*]}" >&2
  exit 1
fi
export DEBIAN_FRONTEND=noninteractive
"${apt[@]}" update -qq
"${apt[@]}" install -y -qq --no-install-recommends "${want[@]}"
