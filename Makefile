# The course's two commands: `make lab` (learn) and `make test` (check everything).
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed
LOCKED := $(VENV)/.installed-locked
LOCK   := constraints-test.txt
# pytest-xdist workers for `make test`: one per two cores (every notebook computes on two threads);
# 0, one process, below four cores. Measured on 2 cores, warm cache: 1086 s with 0, 1226 s with 2
# (four threads on two cores waste a third more CPU time). conftest.py groups what must share a worker.
WORKERS ?= $(shell n=$$(nproc 2>/dev/null || echo 2); echo $$(( n >= 4 ? n / 2 : 0 )))

.PHONY: lab test check install install-test lock floors notebooks sync-notebooks budget doctor clean

## lab: create .venv if missing, install the course (pyproject's ranges), open JupyterLab on notebooks/
lab: $(STAMP)
	$(BIN)/jupyter lab notebooks/ $(if $(filter 0,$(shell id -u)),--allow-root)

## test: install the exact versions of constraints-test.txt, lint (ruff, [tool.ruff] in pyproject.toml),
## then unit tests + every notebook's stored outputs checked once (in the browser test, or by strict `pytest --nbval`)
test: $(LOCKED)
	$(BIN)/python -m ruff check .
	$(BIN)/python -m pytest -n $(WORKERS) --dist loadscope --no-loadscope-reorder --durations=0 --durations-min=5

## check: while you work (minutes, not a quarter of an hour): ruff, the unit tests, and strict nbval of the
## notebooks your change can affect (`python -m tools.affected --why` says which and why); no browser.
## `make test` checks everything before you push, and CI runs it.
check: $(LOCKED)
	$(BIN)/python -m ruff check .
	notebooks="$$($(BIN)/python -m tools.affected --why)" && \
	$(BIN)/python -m pytest -m "not browser" --durations=10 tests $$notebooks

install: $(STAMP)

## install-test: only the install `make test` starts with (the exact versions of constraints-test.txt)
install-test: $(LOCKED)

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q -e ".[dev]"
	touch $(STAMP)

# The test route: the versions that produced the stored outputs (learners keep the ranges).
$(LOCKED): pyproject.toml $(LOCK)
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q -c $(LOCK) -e ".[dev]"
	touch $(STAMP) $(LOCKED)

## lock: rewrite constraints-test.txt from a fresh install of pyproject's ranges (then `make notebooks`)
lock:
	rm -rf .venv-lock && $(PYTHON) -m venv .venv-lock
	.venv-lock/bin/python -m pip install -q -e ".[dev]"
	{ sed -n '/^#/p' $(LOCK); .venv-lock/bin/python -m pip freeze --exclude-editable; } > $(LOCK).new
	mv $(LOCK).new $(LOCK) && rm -rf .venv-lock

## floors: the oldest versions pyproject promises: unit tests + notebooks' asserts (outputs not compared)
floors:
	$(PYTHON) -m tools.check_floors

## doctor: check this environment ([OK]/[FAIL] per requirement)
doctor: $(STAMP)
	$(BIN)/python -m course_utils doctor

## notebooks: re-execute every notebook in place (clean run) -> commit the stored outputs
notebooks: $(STAMP)
	$(BIN)/python -m tools.execute_notebooks --all

## sync-notebooks: rewrite Colab badges and setup cells from [tool.course] in pyproject.toml
sync-notebooks: $(STAMP)
	$(BIN)/python -m tools.sync_notebooks

## budget: per-notebook wall time and peak memory under the checked environment
budget: $(STAMP)
	$(BIN)/python benchmarks/notebook_budget.py

clean:
	rm -rf $(VENV) data/cache
