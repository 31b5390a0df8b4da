# `make train` and `make test` are all a newcomer needs: both create .venv and install on first use.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
INSTALLED := $(VENV)/.installed
# Extra flags for train/sample, e.g. make train ARGS="--num_epochs 2"
ARGS ?=

.PHONY: install train sample tensorboard test bench docs clean

install: $(INSTALLED)

$(INSTALLED): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e '.[dev]'
	touch $@

# Continues the run in save/ when there is one, so a second `make train` never starts over.
train: install
	$(PY) -m charrnn.train --data_dir data/shakespeare --save_dir save $(if $(wildcard save/checkpoint),--init_from save) $(ARGS)

sample: install
	$(PY) -m charrnn.sample --save_dir save $(ARGS)

tensorboard: install
	$(VENV)/bin/tensorboard --logdir logs

# -n auto: one pytest worker per core (pytest-xdist)
test: install
	$(PY) -m pytest -q -n auto $(ARGS)

# Training speed table (python -m charrnn.bench --help), e.g. make bench ARGS="--quick --precision bfloat16"
bench: install
	$(PY) -m charrnn.bench $(ARGS)

# Rewrites the flag tables in docs/ from the flag definitions (a test fails while they differ)
docs: install
	$(PY) scripts/flag_tables.py

# Removes the environment and caches; trained runs (save/, logs/) are yours and stay.
clean:
	rm -rf $(VENV) .pytest_cache build *.egg-info
	find . -name __pycache__ -type d -prune -exec rm -rf {} +
