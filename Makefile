# The two commands of the README: `make book` and `make test`. Both set up .venv when needed.
PYTHON ?= python3
VENV   ?= .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.installed
# Notebooks run on the bundled MNIST sample unless the full data set is cached
# (scratchcnn.data decides; see book/setup.md).
NB     ?= notebooks/*.ipynb

.PHONY: install book test execute bench assignments clean

install: $(STAMP)

$(STAMP): requirements.txt pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --upgrade pip
	$(PY) -m pip install -r requirements.txt
	touch $(STAMP)

# --all re-reads (so re-executes) every chapter: an unchanged notebook would otherwise keep the
# output of an older scratchcnn. MathJax comes with requirements.txt (django-static-mathjax).
book: install
	$(VENV)/bin/jupyter-book build . --all -W -n --keep-going

test: install
	SCRATCHCNN_DATA=sample $(PY) -m pytest -n 2 --dist loadfile --nbval-lax --nbval-current-env --nbval-sanitize-with tests/sanitize.cfg

# Re-execute notebooks in place, top to bottom in fresh kernels: `make execute NB=notebooks/02_convolution.ipynb`
execute: install
	$(PY) tools/execute_notebooks.py $(NB)

bench: install
	$(PY) -m scratchcnn.bench

# Student copies (solutions stubbed, outputs cleared) and solution copies of the chapters, for
# instructors: _build/assignments/student/ and _build/assignments/solutions/ (book/instructors.md)
assignments: install
	$(PY) -m scratchcnn.assignments notebooks _build/assignments

clean:
	rm -rf _build .pytest_cache .hypothesis
