#!/usr/bin/env bash
# Regenerates Tests/TSRecTests/Fixtures/smollm2_item_texts.jsonl.xz: every item title,
# description and item-alignment prompt of both benchmarks (plus Industrial's SID-token
# descriptions and keywords) with the ids that HF `tokenizers` gives for SmolLM2-135M-Instruct.
# See scripts/tokenizer-fixture.py for which reference is used and why.
#
# Needs PyPI once (a throwaway venv with pinned `tokenizers` and `gguf`, removed at exit), the
# SmolLM2 GGUF (`tsrec model fetch`, or TSREC_GGUF) and the benchmark mirror (TSREC_MIRROR, or
# ../shared/data/amazon18 beside the checkout). The tests read only the fixture.
#
# Usage: scripts/tokenizer-fixture.sh [OUT]    (default: the fixture path above)
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
out="${1:-$root/Tests/TSRecTests/Fixtures/smollm2_item_texts.jsonl.xz}"
gguf="${TSREC_GGUF:-${TSREC_CACHE:-$HOME/.cache/tsrec}/models/SmolLM2-135M-Instruct.Q4_1.gguf}"
mirror="${TSREC_MIRROR:-$root/../shared/data/amazon18}"
python="${PYTHON:-python3}"

[ -f "$gguf" ] || { echo "tokenizer-fixture: no GGUF at $gguf (run \`tsrec model fetch\` or set TSREC_GGUF)" >&2; exit 1; }
[ -f "$mirror/Industrial_and_Scientific.tar.gz" ] && [ -f "$mirror/Office_Products.tar.gz" ] ||
  { echo "tokenizer-fixture: no benchmark archives in $mirror (set TSREC_MIRROR)" >&2; exit 1; }
want=b179c9523d0e6a0f98a330c7562b682750a6f8c8c15e5bc70ea373728110db53
got=$(sha256sum "$gguf" | cut -d' ' -f1)
[ "$got" = "$want" ] || { echo "tokenizer-fixture: $gguf has sha256 $got, expected $want" >&2; exit 1; }

venv="$(mktemp -d "${TMPDIR:-/tmp}/tsrec-tokenizer-fixture.XXXXXX")"
trap 'rm -rf "$venv"' EXIT
"$python" -m venv "$venv"
"$venv/bin/pip" install --quiet --disable-pip-version-check "tokenizers==0.23.3" "gguf==0.19.0"
"$venv/bin/python" "$root/scripts/tokenizer-fixture.py" "$gguf" "$mirror" "$out"
ls -l "$out"
