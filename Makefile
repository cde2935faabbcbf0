# uavcine: `make demo` runs the main job on the embedded simulator; `make test` runs the tests.
# Both create their own virtual environment from this repository's files.

PYTHON ?= python3
VENV   ?= .venv
PY     := $(VENV)/bin/python
PIP    := $(PY) -m pip
STAMP  := $(VENV)/.installed-$(shell cat requirements-lock.txt src/uavcine/setup.py src/uavcine_ros/setup.py | cksum | cut -d' ' -f1)
PYTEST_ARGS ?=

.PHONY: all venv test test-fast demo bench clean fuzz test-sitl
FUZZ_EXAMPLES ?= 10000

all: test

$(STAMP):
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PIP) install -q --upgrade pip
	# torch first and pinned: a CPU build; a bare `torch` requirement would pull a multi-GB CUDA build
	$(PIP) install -q -c requirements-lock.txt torch
	$(PIP) install -q -c requirements-lock.txt -e 'src/uavcine[offline,test]' -e src/uavcine_ros
	@rm -f $(VENV)/.installed-*
	@touch $@

venv: $(STAMP)

test: $(STAMP)
	$(PY) -m pytest -q tests $(PYTEST_ARGS)

test-fast: $(STAMP)
	$(PY) -m pytest -q -m 'not slow' tests $(PYTEST_ARGS)

# the long fuzzing budget (make test runs 40 inputs per target): counts per target in runs/fuzz_counts.tsv
fuzz: $(STAMP)
	@mkdir -p runs && rm -f runs/fuzz_counts.tsv
	FUZZ_EXAMPLES=$(FUZZ_EXAMPLES) FUZZ_REPORT=runs/fuzz_counts.tsv $(PY) -m pytest -q -p no:cacheprovider --timeout=0 \
		-W ignore::RuntimeWarning tests/test_fuzz.py $(PYTEST_ARGS)
	@cat runs/fuzz_counts.tsv

# the bridge against ArduCopter SITL (../shared/ardupilot), on loopback ports; about a minute
test-sitl: $(STAMP)
	UAVCINE_SITL=1 $(PY) -m pytest -q tests/test_sitl.py $(PYTEST_ARGS)

demo: $(STAMP)
	$(VENV)/bin/uavcine demo

bench: $(STAMP)
	@for b in bench/bench_*.py; do echo "== $$b"; $(PY) $$b || exit 1; done

clean:
	rm -rf $(VENV) build install log .pytest_cache
