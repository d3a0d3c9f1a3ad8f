# DGX-Pixels: `make demo` and `make test` set everything up themselves (see README.md).
PY := .venv/bin/python
STAMP := .venv/.dgx-pixels-setup

.PHONY: setup demo test test-unit test-engine lint serve clean

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

serve: setup
	$(PY) -m dgx_pixels.cli engine start --port $${PORT:-8188}

clean:
	rm -rf demo_output .pytest_cache .ruff_cache
