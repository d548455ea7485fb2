# Developer entry points: `make demo` and `make test` are the two commands of README.md.
PYTHON ?= python3
VENV := .venv

.PHONY: venv test demo lint

venv: $(VENV)/.installed

# Reinstalls only when pyproject.toml changes; the stamp lives inside the venv, so a new venv reinstalls.
$(VENV)/.installed: pyproject.toml
	bash scripts/system-deps.sh
	test -x $(VENV)/bin/python || $(PYTHON) -m venv $(VENV)
	$(VENV)/bin/python -m pip install -e '.[dev]'
	touch $@

test: venv
	$(VENV)/bin/pytest -q

demo: venv
	$(VENV)/bin/c360 demo

lint: venv
	$(VENV)/bin/ruff check . && $(VENV)/bin/ruff format --check .
