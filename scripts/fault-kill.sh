#!/usr/bin/env bash
# kill -9 trials: does a training + evaluation run killed at any moment and restarted end
# bit-identical to an uninterrupted one?
#
#   scripts/fault-kill.sh [TRIALS] [SEED]          (defaults 20 and 1)
#
# 1. Reference: `tsrec run --profile smoke --method $METHOD` once, uninterrupted, into its own
#    TSREC_RESULTS under $WORK.
# 2. Each trial starts a fresh results folder and SIGKILLs the run, then restarts it until it
#    finishes. Where the first kill lands is drawn (seeded) from three modes, so that the moments
#    that matter are hit on purpose and not only by chance:
#      time       a uniform moment of the reference's wall time (loading, training, evaluation);
#      write      while a checkpoint (checkpoint.tsrc or best.tsrc) is being written: its
#                 temporary `.…tmp-<pid>` exists, the k-th such write of the run (k drawn);
#      journal    during evaluation, once the prediction journal holds j batches (j of 1-2), after
#                 a drawn delay of 0-400 ms (lands in the beam search or the next append).
#    Each restart is itself killed again at a uniform moment with probability 1/3 (at most 3
#    kills per trial); the last run is left to finish.
# 3. Every finished trial is compared with the reference: the result row printed by `tsrec run`
#    (timings left out), checkpoint.tsrc, best.tsrc, the predictions file and config.json byte for
#    byte, train_log.csv and summary.json without their wall-time fields; no temporary or journal
#    file may be left in the run folder. A run that exits non-zero without being killed is a crash.
#
# Environment: BIN (folder of the built tools, default .build/release), WORK (scratch folder,
# default /tmp/tsrec-fault-kill, emptied first), METHOD (default MiniOneRec-SFT), EXTRA (more
# `tsrec run` options, default "--batch 8 --test-rows 24"), TSREC_CACHE
# (model and data, read only). Prints one line per trial and a summary; exits 1 on any mismatch
# or crash.
set -uo pipefail
cd "$(dirname "$0")/.."

TRIALS=${1:-20}
SEED=${2:-1}
BIN=${BIN:-.build/release}
WORK=${WORK:-/tmp/tsrec-fault-kill}
METHOD=${METHOD:-MiniOneRec-SFT}
export OPENBLAS_CORETYPE=${OPENBLAS_CORETYPE:-$(scripts/openblas-coretype.sh)}
[ -x "$BIN/tsrec" ] || { echo "fault-kill: $BIN/tsrec not built (swift build -c release)" >&2; exit 2; }

rm -rf "$WORK" && mkdir -p "$WORK"
# A copy of the binary: a rebuild while the trials run must not mix two builds.
cp "$BIN/tsrec" "$WORK/tsrec" && TSREC=$WORK/tsrec
RANDOM=$SEED
# A uniform integer in [0, n).
draw() { echo $(( (RANDOM * 32768 + RANDOM) % $1 )); }

# The smoke profile with one micro-batch per step and 24 test rows (EXTRA, same for the
# reference and the trials): 6 steps, checkpoints after steps 2, 4, 6, validation (best.tsrc)
# after steps 3 and 6, 3 journal appends; about a minute per run on 2 busy cores.
read -r -a extra <<< "${EXTRA---batch 8 --test-rows 24}"
run_args=(run --profile smoke --method "$METHOD" "${extra[@]}")

# The run folder of a results root (one dataset, one configuration).
run_dir() { ls -d "$1"/runs/*/*/ 2>/dev/null | head -1; }

# What must be identical, one line per item: name and sha256 (or a digest of the normalised content).
fingerprint() {   # results-root result-json
    python3 - "$1" "$2" <<'EOF'
import glob, hashlib, json, os, sys
root, result = sys.argv[1], sys.argv[2]
d = glob.glob(os.path.join(root, "runs", "*", "*"))[0]
out = []
def sha(b): return hashlib.sha256(b).hexdigest()[:16]
r = json.load(open(result))
for k in ("trainSeconds", "evalSeconds", "predictionsPath"): r.pop(k, None)
out.append(("result-row", sha(json.dumps(r, sort_keys=True).encode())))
for name in sorted(os.listdir(d)):
    p = os.path.join(d, name)
    if name.endswith((".tsrc", ".jsonl")) or name == "config.json":
        out.append((name, sha(open(p, "rb").read())))
    elif name == "train_log.csv":
        lines = open(p).read().splitlines()
        col = lines[0].split(",").index("ms")
        body = "\n".join(",".join(c for i, c in enumerate(l.split(",")) if i != col) for l in lines)
        out.append((name + " (without ms)", sha(body.encode())))
    elif name == "summary.json":
        s = json.load(open(p)); s.pop("wallSeconds")
        for row in s["log"]: row.pop("milliseconds")
        out.append((name + " (without times)", sha(json.dumps(s, sort_keys=True).encode())))
    elif name.endswith(".seconds"):
        continue
    else:
        out.append((name, "LEFTOVER"))   # temporaries, journals, anything unexpected
for name, digest in out: print(f"{name} {digest}")
EOF
}

export TSREC_RESULTS
# Starts the run in the background (stdout appended to $log, stderr to $log.err); sets $pid.
start() { "$TSREC" "${run_args[@]}" >>"$log" 2>>"$log.err" & pid=$!; }
# Waits for $pid; sets $status.
finish() { wait "$pid"; status=$?; }

# MARK: reference
TSREC_RESULTS=$WORK/reference log=$WORK/reference.log
t0=$(date +%s.%N)
start; finish
T=$(python3 -c "print(round($(date +%s.%N) - $t0, 2))")
[ "$status" = 0 ] || { echo "fault-kill: reference run failed ($status), see $log" >&2; exit 2; }
grep '^{' "$log" | tail -1 > "$WORK/reference.json"
fingerprint "$WORK/reference" "$WORK/reference.json" > "$WORK/reference.fp"
echo "reference: ${T}s, $(wc -l < "$WORK/reference.fp") items compared ($(tr '\n' ' ' < "$WORK/reference.fp" | cut -c1-200)...)"
T_MS=$(python3 -c "print(int($T * 1000))")

# MARK: trials
kills=0 mismatches=0 crashes=0 survived=0 modes=""
started=$(date +%s)
for trial in $(seq 1 "$TRIALS"); do
    TSREC_RESULTS=$WORK/trial-$trial log=$WORK/trial-$trial.log
    mode=$(( $(draw 3) ))
    case $mode in 0) mode=time ;; 1) mode=write ;; 2) mode=journal ;; esac
    trial_kills=0 crashed=0 where=""
    while :; do
        start
        if [ "$trial_kills" = 0 ]; then
            case $mode in
            time)
                ms=$(draw "$T_MS"); sleep "$(python3 -c "print($ms/1000)")"; where="t=${ms}ms" ;;
            write)
                k=$(( $(draw 4) + 1 )); seen=0 last=""
                while kill -0 "$pid" 2>/dev/null; do
                    tmp=$(ls -a "$(run_dir "$TSREC_RESULTS")" 2>/dev/null | grep -E '^\.(checkpoint|best)\.tsrc\.tmp-' | head -1)
                    if [ -n "$tmp" ] && [ "$tmp" != "$last" ]; then seen=$((seen + 1)); last=$tmp
                        [ "$seen" -ge "$k" ] && break
                    elif [ -z "$tmp" ]; then last=""; fi
                    sleep 0.01
                done
                where="in checkpoint write #$seen (${last%%.tmp-*})" ;;
            journal)
                j=$(( $(draw 2) + 1 )); ms=$(draw 400)
                while kill -0 "$pid" 2>/dev/null; do
                    n=$(cat "$(run_dir "$TSREC_RESULTS")"/*.partial 2>/dev/null | wc -l)
                    [ "$n" -ge $((j * 8)) ] && break
                    sleep 0.02
                done
                sleep "$(python3 -c "print($ms/1000)")"
                where="journal at $n rows +${ms}ms" ;;
            esac
        elif [ "$trial_kills" -lt 3 ] && [ "$(draw 3)" = 0 ]; then
            ms=$(draw "$T_MS"); sleep "$(python3 -c "print($ms/1000)")"; where="$where; again t=${ms}ms"
        else
            finish; [ "$status" = 0 ] || crashed=1
            break
        fi
        if kill -0 "$pid" 2>/dev/null && kill -9 "$pid" 2>/dev/null; then
            wait "$pid" 2>/dev/null
            trial_kills=$((trial_kills + 1)); echo "=== killed ($where)" >> "$log"
        else
            finish   # ended before the kill: it must have finished cleanly
            [ "$status" = 0 ] || { crashed=1; break; }
            where="$where (finished before the kill)"
            break
        fi
    done
    if [ "$crashed" = 1 ]; then
        crashes=$((crashes + 1)); verdict="CRASH (exit $status, see $log)"
    else
        grep '^{' "$log" | tail -1 > "$TSREC_RESULTS/result.json"
        fingerprint "$TSREC_RESULTS" "$TSREC_RESULTS/result.json" > "$TSREC_RESULTS/fp" 2>>"$log"
        if diff -q "$WORK/reference.fp" "$TSREC_RESULTS/fp" >/dev/null; then
            verdict="identical"; survived=$((survived + trial_kills))
            rm -rf "$TSREC_RESULTS"             # keep the disk small; the log stays
        else
            mismatches=$((mismatches + 1))
            verdict="MISMATCH: $(diff "$WORK/reference.fp" "$TSREC_RESULTS/fp" | grep '^>' | cut -c3- | tr '\n' ' ')"
        fi
    fi
    kills=$((kills + trial_kills))
    printf 'trial %2d  %-7s kills %d  %-60s %s\n' "$trial" "$mode" "$trial_kills" "$where" "$verdict"
done
elapsed=$(( $(date +%s) - started ))

echo
echo "summary: $TRIALS trials (seed $SEED, $METHOD, smoke profile ${extra[*]}), $kills SIGKILLs, $survived kills survived" \
     "(resumed run bit-identical to the reference), $mismatches mismatching trials, $crashes crashes;" \
     "reference ${T}s, trials ${elapsed}s"
[ "$mismatches" = 0 ] && [ "$crashes" = 0 ]
