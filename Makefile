# `make demo`: set up .venv from a fresh clone and run the main job.
# `make test`: set up .venv and run the whole test suite (what CI runs).
#   HWSNN_REQUIRE_BACKENDS=1 make test (what .ci/run does): a missing back end (lava-nc, Icarus,
#   Verilator, cocotb) fails the run with one line naming it, and a skipped test is a failure.
#   Without it, tests of a back end that is not installed skip.
VENV  := .venv
STAMP := $(VENV)/.hwsnn-setup
OUT   ?= out/demo

.PHONY: setup demo test test-quick lint-imports bench clean

lint-imports: setup
	$(VENV)/bin/lint-imports --no-cache

setup: $(STAMP)

$(STAMP): pyproject.toml constraints.txt scripts/setup.sh
	bash scripts/setup.sh
	touch $(STAMP)

demo: setup
	$(VENV)/bin/hwsnn demo --out $(OUT)

export HWSNN_REQUIRE_BACKENDS

test: setup
	$(VENV)/bin/lint-imports --no-cache
	$(VENV)/bin/python -m pytest -q

test-quick: setup
	$(VENV)/bin/lint-imports --no-cache
	$(VENV)/bin/python -m pytest -q -m "not slow"

bench: setup
	# the peer (SpikingJelly) without its torchvision/torchaudio pins, which would replace torch
	$(VENV)/bin/python -m pip -q install --no-deps spikingjelly==2.0.0
	$(VENV)/bin/python -m pip -q install "loguru>=0.7,<1" requests
	$(VENV)/bin/python benchmarks/run_all.py

clean:
	rm -rf $(VENV) out build .pytest_cache
