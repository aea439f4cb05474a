# The two commands of the README: `make book` and `make test`. Both set up .venv when needed.
PYTHON ?= python3
VENV   ?= .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.installed
# Notebooks run on the bundled MNIST sample unless the full data set is cached
# (scratchcnn.data decides; see book/setup.md).
NB     ?= notebooks/*.ipynb

# The data the chapters run on when the site is built or the chapters re-executed: the full MNIST
# when it is cached, else the bundled sample, and never the network (book/setup.md).
SCRATCHCNN_DATA ?= offline
export SCRATCHCNN_DATA

.PHONY: install lint book test unit execute bench assignments colab colab-check test-oldest times clean

install: $(STAMP)

$(STAMP): requirements.txt pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --upgrade pip
	$(PY) -m pip install -r requirements.txt
	touch $(STAMP)

# tools/build_book.py runs every chapter in a fresh kernel, two at a time, into a new
# jupyter-cache, then builds with `jupyter-book build --all -W -n --keep-going` from that cache
# (no stale outputs: the cache is new each time). MathJax comes with requirements.txt.
book: install
	@echo "make book: the chapters run on SCRATCHCNN_DATA=$(SCRATCHCNN_DATA) (each says which MNIST it used)"
	$(PY) tools/build_book.py $(NB)

test: install
	SCRATCHCNN_DATA=sample $(PY) -m pytest -n 2 --dist loadfile --no-loadscope-reorder --nbval-lax --nbval-current-env --nbval-sanitize-with tests/sanitize.cfg

# ruff: lint (E, F, I, UP, B, complexity) and formatting, as configured in pyproject.toml.
lint: install
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .

# The fast tier: the package's unit tests without the slow ones, the notebooks, the site or the
# browser (about a minute on a quiet 2-core machine).
UNIT_IGNORE := --ignore=tests/test_book.py --ignore=tests/test_browser.py --ignore=tests/test_notebooks.py \
	--ignore=tests/test_reader_copy.py --ignore=tests/test_assignments.py
unit: install
	SCRATCHCNN_DATA=sample $(PY) -m pytest tests -n 2 -m "not slow" $(UNIT_IGNORE)

# Re-execute notebooks in place, top to bottom in fresh kernels: `make execute NB=notebooks/02_convolution.ipynb`
execute: install
	$(PY) tools/execute_notebooks.py $(NB)

bench: install
	$(PY) -m scratchcnn.bench

# Student copies (solutions stubbed, outputs cleared) and solution copies of the chapters, for
# instructors: _build/assignments/student/ and _build/assignments/solutions/ (book/instructors.md)
assignments: install
	$(PY) -m scratchcnn.assignments notebooks _build/assignments

# Reader copies for Colab and Jupyter: the executed chapters with the MyST rendered away
# (_build/colab/<chapter>.ipynb; the GitHub workflow publishes them on the branch `colab`).
colab: install
	$(PY) -m scratchcnn.reader_copy notebooks _build/colab

# Colab as far as it can be tried offline: a fresh venv with the newest NumPy, SciPy, Matplotlib
# and scikit-learn (no requirements.txt), a google.colab stand-in, and every reader copy run top
# to bottom, its install cell included; it fails if that cell upgrades or downgrades anything.
colab-check: install
	$(PY) tools/colab_check.py --venv _build/colab-venv --out _build/colab-check

# The lowest versions pyproject.toml allows (tools/test_oldest.py pins each): the unit tests and
# two chapters run against them, in a venv of their own.
test-oldest:
	$(PYTHON) tools/test_oldest.py --venv _build/oldest-venv

# How long each chapter takes, on the sample and on full-size data (book/chapter_times.md, which
# book/setup.md includes). FULL is the full-size data: the real MNIST (auto) or Debian's
# Fashion-MNIST folder as the stand-in on a machine without network.
FULL ?= /usr/share/datasets/fashion-mnist
times: install
	$(PY) tools/time_chapters.py --full $(FULL)

clean:
	rm -rf _build .pytest_cache .hypothesis
