# The course's two commands: `make lab` (learn) and `make test` (check everything).
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed

.PHONY: lab test install notebooks sync-notebooks budget doctor clean

## lab: create .venv if missing, install the course, open JupyterLab on notebooks/
lab: $(STAMP)
	$(BIN)/jupyter lab notebooks/ $(if $(filter 0,$(shell id -u)),--allow-root)

## test: the same install, then unit tests + strict `pytest --nbval` over every notebook
test: $(STAMP)
	$(BIN)/python -m pytest

install: $(STAMP)

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q -e ".[dev]"
	touch $(STAMP)

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
