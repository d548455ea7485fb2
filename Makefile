# Developer entry points; `make test` is the command README and .ci/run use.
PYTHON ?= python3
VENV := .venv

.PHONY: venv test

venv: $(VENV)/.installed

# Reinstalls only when pyproject.toml changes; the stamp lives inside the venv, so a new venv reinstalls.
$(VENV)/.installed: pyproject.toml
	test -x $(VENV)/bin/python || $(PYTHON) -m venv $(VENV)
	$(VENV)/bin/python -m pip install -e '.[dev]'
	touch $@

test: venv
	$(VENV)/bin/pytest -q
