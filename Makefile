# Every target uses the virtual environment in .venv; demo and test create it when missing.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
EXTRAS ?= dev
comma := ,
# One stamp per set of extras, so `make test EXTRAS=dev,semantic` installs what a plain run lacks.
STAMP = $(VENV)/.installed-$(subst $(comma),-,$(EXTRAS))
# The semantic extra (sentence-transformers) needs torch; install the CPU build first, or pip
# would fetch a multi-GB CUDA build. This machine's pip takes torch==2.13.0 from local disk.
TORCH ?= torch==2.13.0

.PHONY: install demo test lint bench e2e clean

install: $(STAMP)

$(STAMP): pyproject.toml
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	@$(PY) -c 'import sys; assert sys.version_info >= (3, 11), "llm-orchestrator needs Python >= 3.11"'
	$(PY) -m pip install --quiet --upgrade pip
	@case ",$(EXTRAS)," in *,semantic,*) $(PY) -m pip install --quiet "$(TORCH)" ;; esac
	$(PY) -m pip install --quiet -e '.[$(EXTRAS)]'
	@# Bytecode for our packages too (pip compiles only what it copies): with PYTHONDONTWRITEBYTECODE
	@# set, every process would otherwise compile them from source again, 0.1-0.2 CPU-s per start.
	@$(PY) -m compileall -q -j 0 blocks compiler deployments ecosystem flows llm_orchestrator tasks > /dev/null
	@touch $(STAMP)

demo: install
	$(PY) -m llm_orchestrator.demo

test: install
	$(PY) -m pytest

lint: install
	$(VENV)/bin/ruff check .
	$(VENV)/bin/mypy
	$(VENV)/bin/mypy --strict -p flows -p tasks
	$(VENV)/bin/lint-imports

bench: install
	@for script in bench/[!_]*.py; do echo "== $$script"; $(PY) $$script || exit 1; done

# Browser check of both Prefect UIs (not part of `make test`): headless Chromium from Debian's packages.
e2e:
	@test -x $${CHROMIUM:-/usr/bin/chromium} || { echo "make e2e needs Chromium: apt-get install -y chromium"; exit 1; }
	$(MAKE) install EXTRAS=dev,e2e
	$(PY) -u e2e/browser_check.py

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache .hypothesis
