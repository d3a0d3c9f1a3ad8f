# DGX-Pixels: `make demo` and `make test` set everything up themselves (see README.md).
PY := .venv/bin/python
STAMP := .venv/.dgx-pixels-setup

.PHONY: setup demo test test-unit test-engine test-hostile lint serve clean

setup: $(STAMP)

$(STAMP): scripts/setup.sh pyproject.toml
	bash scripts/setup.sh
	touch $(STAMP)

demo: setup
	$(PY) -m dgx_pixels.cli demo --out demo_output

lint: setup
	$(PY) -m ruff check .
	.venv/bin/lint-imports

test: setup lint
	$(PY) -m pytest tests -q --timeout=900

test-unit: setup
	$(PY) -m pytest tests/unit -q

test-engine: setup
	$(PY) -m pytest tests/engine -q --timeout=900

# Every node with 500 hostile examples through the real engine (make test runs 6 per node); about 10 min.
test-hostile: setup
	DGX_PIXELS_HOSTILE_EXAMPLES=500 $(PY) -m pytest tests/engine/test_nodes_hostile.py -q -s --timeout=3600

serve: setup
	$(PY) -m dgx_pixels.cli engine start --port $${PORT:-8188}

clean:
	rm -rf demo_output .pytest_cache .ruff_cache
