# tsrec: every entry point is a thin wrapper over `swift build/run -c release`.
# `make test` and `make table2` do all set-up themselves on a fresh Debian machine.
SHELL := /bin/bash
SWIFT ?= swift
CONFIG ?= release
# -enable-testing on every build, so the test build reuses the tools' build instead of
# compiling the library a second time (it costs nothing measurable at run time here).
SWIFTFLAGS := -c $(CONFIG) -Xswiftc -enable-testing
BIN = $(shell $(SWIFT) build $(SWIFTFLAGS) --show-bin-path 2>/dev/null)
PROFILE ?= quick
export PROFILE
# REPORT_ONLY=1: build the tables from finished runs only (never train); the rest is "pending".
export REPORT_ONLY

# OpenBLAS reads OPENBLAS_CORETYPE once, when it is loaded: choose the kernel from this CPU's
# flags before any binary starts (a value already in the environment wins).
CORETYPE := $(shell scripts/openblas-coretype.sh)
ifneq ($(CORETYPE),)
export OPENBLAS_CORETYPE := $(CORETYPE)
endif

# MPI=N runs table2, smoke, ablations and seeds under `mpirun -np N` (docs/mpi.md):
# data-parallel training and sharded evaluation, rank 0 writes. OPENBLAS_NUM_THREADS is the
# threads per rank (default 1 under MPI); HOSTFILE=hosts spreads the ranks over machines;
# MPIFLAGS adds launcher options. Without MPI every target runs one process, as always.
MPI ?=
MPIRUN ?= mpirun
HOSTFILE ?=
MPIFLAGS ?=
ifneq ($(MPI),)
export OPENBLAS_NUM_THREADS ?= 1
# as root Open MPI needs --allow-run-as-root; --bind-to none: a rank's OpenBLAS threads may use
# more than one core (Open MPI binds each rank to one core by default for np <= 2)
LAUNCH = $(MPIRUN) -np $(MPI) --oversubscribe --bind-to none $(if $(filter 0,$(shell id -u)),--allow-run-as-root) \
	$(if $(HOSTFILE),--hostfile $(HOSTFILE)) -x OPENBLAS_NUM_THREADS -x OPENBLAS_CORETYPE -x PROFILE \
	$(foreach v,TSREC_RESULTS TSREC_FIGURES TSREC_MIRROR TSREC_ROOT TSREC_OPENBLAS_CORETYPE REPORT_ONLY,$(if $($(v)),-x $(v))) $(MPIFLAGS)
endif

# The offline mirror of the benchmark archives, when this checkout sits beside shared/.
TSREC_MIRROR ?= $(firstword $(wildcard ../shared/data/amazon18))
export TSREC_MIRROR

.PHONY: all setup build model data test bench table2 baselines ablations seeds smoke sz clean sanitize sanitize-thread

all: build

setup:
	@scripts/setup.sh

build: setup
	$(SWIFT) build $(SWIFTFLAGS)

model: build
	$(BIN)/tsrec model fetch --minilm

data: build
	$(BIN)/tsrec data fetch Industrial_and_Scientific
	$(BIN)/tsrec data fetch Office_Products

# Tests run in release (numeric code is ~50x slower in debug).
# The smoke profile runs the whole pipeline end to end (data -> train -> evaluate -> CSV ->
# figure) into a scratch folder first; then the unit and integration tests.
SMOKE_DIR := .build/smoke
test: model data
	$(SWIFT) build $(SWIFTFLAGS) --build-tests
	rm -rf $(SMOKE_DIR) && mkdir -p $(SMOKE_DIR)/figures
	TSREC_RESULTS=$(SMOKE_DIR) TSREC_FIGURES=$(SMOKE_DIR)/figures $(BIN)/table2 --profile smoke
	test -s $(SMOKE_DIR)/table2.csv && test -s $(SMOKE_DIR)/figures/table2-Industrial_and_Scientific-smoke.png
	test -s $(SMOKE_DIR)/figures/table2-Industrial_and_Scientific-smoke-valid-loss.png
	test -s $(SMOKE_DIR)/figures/table2-Industrial_and_Scientific-smoke-rl.png && test -s $(SMOKE_DIR)/figures/table2-Industrial_and_Scientific-smoke-rl.csv
	grep -q ',TS-Rec,TS-Rec-SFT,HR@10,' $(SMOKE_DIR)/table2-Industrial_and_Scientific-paired.csv
	grep -q ',TS-Rec,new,' $(SMOKE_DIR)/table2-Industrial_and_Scientific-by-history.csv && test -s $(SMOKE_DIR)/figures/table2-Industrial_and_Scientific-smoke-by-history.png
	grep -q ',MiniOneRec,MiniOneRec-SFT,HR@10,' $(SMOKE_DIR)/table2-Industrial_and_Scientific-paired.csv
	@# LC-Rec's row says which share of its ranked SIDs are no catalogue item (column invalid_rate)
	awk -F, '$$20 == "invalid_rate" { h = 1 } /^Industrial_and_Scientific,LC-Rec,/ { r = ($$20 != "" && $$20 >= 0 && $$20 <= 1) } END { exit !(h && r) }' $(SMOKE_DIR)/table2.csv
	@# BIGRec's predictions keep the text each row generated before grounding
	grep -q '"generated":' $(SMOKE_DIR)/runs/*/*/predictions-grounded-*.jsonl
	test -s $(SMOKE_DIR)/figures/table2-Industrial_and_Scientific-smoke-paired.png && test -s $(SMOKE_DIR)/table2-Industrial_and_Scientific-paired.csv
	@# a second process finds every run by its hash: the report-only table has the same rows
	@# (all columns up to best_valid_loss; the popularity row's timing is measured afresh)
	grep -v '^#' $(SMOKE_DIR)/table2.csv | cut -d, -f1-17 > $(SMOKE_DIR)/table2.rows
	TSREC_RESULTS=$(SMOKE_DIR) TSREC_FIGURES=$(SMOKE_DIR)/figures $(BIN)/table2 --profile smoke --report-only
	grep -v '^#' $(SMOKE_DIR)/table2.csv | cut -d, -f1-17 | diff $(SMOKE_DIR)/table2.rows - && echo "report-only table == trained table"
	@# the seed study end to end: seed 42 reuses the runs above, seed 7 trains both methods again
	TSREC_RESULTS=$(SMOKE_DIR) TSREC_FIGURES=$(SMOKE_DIR)/figures $(BIN)/seeds --profile smoke --seeds 42,7
	grep -q '^# seeds: 42 7$$' $(SMOKE_DIR)/figures/seeds-smoke-seeds.csv && test -s $(SMOKE_DIR)/figures/seeds-smoke-paired.png
	grep -q ',TS-Rec-SFT seed 7,TS-Rec-SFT seed 42,HR@10,' $(SMOKE_DIR)/figures/seeds-smoke-seed-noise.csv
	@# the loopback download tests time out when they share 2 busy cores with the parallel
	@# suites: they run on their own, after the rest (as in `make sanitize`)
	$(SWIFT) test $(SWIFTFLAGS) --skip-build --skip DownloadTests
	$(SWIFT) test $(SWIFTFLAGS) --skip-build --filter DownloadTests
	@# data-parallel equivalence (docs/mpi.md): mpirun -np 2 x 1 thread (killed once and resumed)
	@# against one process x 1 thread: same losses (fp32 tolerance), same predictions
	BIN=$(BIN) scripts/mpi-equivalence.sh

# Sanitizers, each in its own build folder (a full rebuild, release like the tests). Reports go to
# files under <folder>/reports (from every process: tests, table2, their threads); the target
# fails when a run fails or any report file exists, and prints them. TSREC_SANITIZER turns off
# the tests' wall-time floors (Support/TimingFloors.swift).
#   make sanitize         AddressSanitizer (with LeakSanitizer; scripts/lsan.supp lists the leaks
#                         of the Swift runtime libraries it ignores): the smoke table2 pipeline,
#                         then every unit test. (swiftc 6.3 on Linux rejects -sanitize=undefined, so
#                         UBSan is not combined in.)
#   make sanitize-thread  ThreadSanitizer: the tests that run the threaded kernels (row-parallel
#                         Kernels.parallelChunks, AdamW, GGUF dequantisation) at sizes that really split.
ASAN_SCRATCH := .build-asan
TSAN_SCRATCH := .build-tsan
ASAN_FLAGS = $(SWIFTFLAGS) --sanitize=address --scratch-path $(ASAN_SCRATCH)
TSAN_FLAGS = $(SWIFTFLAGS) --sanitize=thread --scratch-path $(TSAN_SCRATCH)
ASAN_BIN = $(shell $(SWIFT) build $(ASAN_FLAGS) --show-bin-path 2>/dev/null)
ASAN_ENV = TSREC_SANITIZER=address ASAN_OPTIONS=halt_on_error=1:detect_leaks=1:log_path=$(CURDIR)/$(ASAN_SCRATCH)/reports/asan \
	LSAN_OPTIONS=suppressions=$(CURDIR)/scripts/lsan.supp:print_suppressions=0
TSAN_ENV = TSREC_SANITIZER=thread TSAN_OPTIONS=halt_on_error=1:second_deadlock_stack=1:log_path=$(CURDIR)/$(TSAN_SCRATCH)/reports/tsan
# (TSREC_BENCH=1 turns on KernelBenchTests: every threaded kernel, forward and backward, at the
# SmolLM2 training shapes; the other tests' shapes are mostly too small to split.)
TSAN_TESTS ?= KernelBenchTests/kernelsAtTrainingShapes|DeterminismTests/logits|DeterminismTests/evaluationInLanes|DeterminismTests/lanesReturn|LlamaTests|LlamaTrainingTests|OptimizerTests|MiniLMTests|GGUFTests|GRPOStageTests/ranksEqualOneProcess
# Fails (and prints them) when sanitizer report files exist in $(1).
no_reports = if ls $(1)/* >/dev/null 2>&1; then cat $(1)/*; echo "sanitizer reports in $(1)"; exit 1; fi; echo "no sanitizer reports"

sanitize: model data
	rm -rf $(ASAN_SCRATCH)/reports $(ASAN_SCRATCH)/smoke && mkdir -p $(ASAN_SCRATCH)/reports $(ASAN_SCRATCH)/smoke/figures
	$(SWIFT) build $(ASAN_FLAGS) --build-tests
	$(ASAN_ENV) TSREC_RESULTS=$(ASAN_SCRATCH)/smoke TSREC_FIGURES=$(ASAN_SCRATCH)/smoke/figures $(ASAN_BIN)/table2 --profile smoke
	test -s $(ASAN_SCRATCH)/smoke/table2.csv
	@# the loopback download tests time out and retry when they share the 2 slowed-down cores
	@# with the parallel suites: they run on their own, after the rest
	$(ASAN_ENV) $(SWIFT) test $(ASAN_FLAGS) --skip-build --skip DownloadTests
	$(ASAN_ENV) $(SWIFT) test $(ASAN_FLAGS) --skip-build --filter DownloadTests
	@$(call no_reports,$(ASAN_SCRATCH)/reports)

sanitize-thread: model
	rm -rf $(TSAN_SCRATCH)/reports && mkdir -p $(TSAN_SCRATCH)/reports
	$(SWIFT) build $(TSAN_FLAGS) --build-tests
	$(TSAN_ENV) TSREC_BENCH=1 $(SWIFT) test $(TSAN_FLAGS) --skip-build --filter '$(TSAN_TESTS)'
	@$(call no_reports,$(TSAN_SCRATCH)/reports)

# TSREC_BENCH_PEER: the PyTorch peer, alternated with tsrec's training step in the same run
# (a venv under .build/torch-peer on first use; TSREC_BENCH_PEER= turns it off)
TSREC_BENCH_PEER ?= $(CURDIR)/scripts/torch-peer.sh
bench: model data
	TSREC_BENCH_PEER=$(TSREC_BENCH_PEER) $(BIN)/tsrec-bench

table2: model data
	$(LAUNCH) $(BIN)/table2 --profile $(PROFILE)

baselines: data
	$(BIN)/baselines --profile $(PROFILE)

ABLATIONS := ablation-no-sainit ablation-no-tsalign ablation-init
ablations: model data
	for a in $(ABLATIONS); do $(LAUNCH) $(BIN)/$$a --profile $(PROFILE) || exit 1; done

# TS-Rec vs MiniOneRec-SFT over training seeds: make seeds SEEDS=42,43,44
SEEDS ?= 42,43,44
seeds: model data
	$(LAUNCH) $(BIN)/seeds --profile $(PROFILE) --seeds $(SEEDS)

smoke: model data
	TSREC_RESULTS=$(SMOKE_DIR) TSREC_FIGURES=$(SMOKE_DIR)/figures $(LAUNCH) $(BIN)/table2 --profile smoke

sz:
	@find Sources Tools Reproductions Tests -name '*.swift' -o -name '*.cpp' | xargs wc -l | sort -n

clean:
	rm -rf .build
