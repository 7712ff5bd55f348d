#!/usr/bin/env bash
# Training throughput of the two ways to use a machine's cores (docs/mpi.md): one process with
# T OpenBLAS threads against `mpirun -np T` with one thread per rank, on the same global batch.
#
#   scripts/mpi-bench.sh [REPEATS] [THREADS]          (defaults 2 and 2)
#
# Each trial is `tsrec run --train-only` of the smoke profile with all 30 layers (SmolLM2-135M
# whole; micro-batches of 8, validation on 32 rows at the end) for STEPS steps of BATCH sequences,
# into a fresh results folder; the two
# configurations alternate (A B A B …) so that a job sharing the machine weighs on both alike.
# Reported per trial: the median tokens/s of steps 2..STEPS (step 1 warms caches), from the
# `step` log lines (tokens of the whole global batch / the step's wall time, validation excluded).
# Writes $WORK/bench.csv and prints it.
#
# Environment: BIN, WORK (default /tmp/tsrec-mpi-bench, emptied first), STEPS (default 4),
# BATCH (default 32: 4 micro-batches per step, 2 per rank at np 2), MPIRUN (default mpirun).
set -uo pipefail
cd "$(dirname "$0")/.."
REPEATS=${1:-2}
THREADS=${2:-2}
BIN=${BIN:-$(swift build -c release -Xswiftc -enable-testing --show-bin-path 2>/dev/null)}
WORK=${WORK:-/tmp/tsrec-mpi-bench}
STEPS=${STEPS:-4}
BATCH=${BATCH:-32}
MPIRUN=${MPIRUN:-mpirun}
export OPENBLAS_CORETYPE=${OPENBLAS_CORETYPE:-$(scripts/openblas-coretype.sh)}
mpiflags=(--oversubscribe --bind-to none)
[ "$(id -u)" -eq 0 ] && mpiflags+=(--allow-run-as-root)
args=(run --profile smoke --layers 30 --method TS-Rec-SFT --steps "$STEPS" --batch "$BATCH" --train-only)
rm -rf "$WORK" && mkdir -p "$WORK"
echo "trial,layout,ranks,threads_per_rank,median_tok_s,steps,started" > "$WORK/bench.csv"

median_tok_s() {   # log file → median tok/s of steps 2..
    grep '^step' "$1" | tail -n +2 | sed 's/.*tok\/s \([0-9.]*\).*/\1/' | sort -n \
        | awk '{ v[NR] = $1 } END { if (NR == 0) print "nan"; else if (NR % 2) print v[(NR + 1) / 2]; else print (v[NR / 2] + v[NR / 2 + 1]) / 2 }'
}

for i in $(seq 1 "$REPEATS"); do
    for layout in threads ranks; do
        out=$WORK/$layout-$i
        started=$(date -u +%H:%M:%S)
        if [ $layout = threads ]; then
            OPENBLAS_NUM_THREADS=$THREADS TSREC_RESULTS=$out "$BIN/tsrec" "${args[@]}" > "$out.log" 2>&1
            ranks=1; per=$THREADS
        else
            OPENBLAS_NUM_THREADS=1 TSREC_RESULTS=$out "$MPIRUN" "${mpiflags[@]}" -np "$THREADS" \
                -x OPENBLAS_NUM_THREADS -x OPENBLAS_CORETYPE -x TSREC_RESULTS "$BIN/tsrec" "${args[@]}" > "$out.log" 2>&1
            ranks=$THREADS; per=1
        fi || { tail "$out.log"; echo "mpi-bench: trial $layout-$i failed" >&2; exit 1; }
        echo "$i,$layout,$ranks,$per,$(median_tok_s "$out.log"),$(grep -c '^step' "$out.log"),$started" | tee -a "$WORK/bench.csv"
        cp "$(ls -d "$out"/runs/*/*/ | head -1)/train_log.csv" "$out-train_log.csv"
        rm -rf "$out"                                # 1.6 GB of checkpoints per trial
    done
done
cat "$WORK/bench.csv"
