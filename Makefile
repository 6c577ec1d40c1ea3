# `make demo` and `make test` each set up .venv on a fresh machine, then run.
VENV ?= .venv
PYTHON := $(VENV)/bin/python
STAMP := $(VENV)/.installed

.PHONY: install demo test clean

$(STAMP): pyproject.toml constraints.txt
	test -x $(PYTHON) || python3 -m venv $(VENV)
	$(PYTHON) -m pip install -q --upgrade pip
	$(PYTHON) -m pip install -q -c constraints.txt -e '.[test]'
	touch $(STAMP)

install: $(STAMP)

demo: install
	$(PYTHON) examples/demo.py

test: install
	HF_HUB_OFFLINE=1 $(PYTHON) -m pytest -q

clean:
	rm -rf demo-output .pytest_cache
