# Two commands do everything on a fresh machine: `make demo` and `make test`.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed

.PHONY: demo test venv bench bench-gpu clean

$(STAMP): pyproject.toml constraints.txt
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -c constraints.txt -e '.[dev]'
	touch $(STAMP)

venv: $(STAMP)

test: $(STAMP)
	$(PY) -m pytest -q -n 2 --dist loadfile

demo: $(STAMP)
	$(PY) -m zoo.demo

# quick versions of every benchmark (minutes on 2 CPU cores); run a script without --quick for the full sizes
bench: $(STAMP)
	for b in models convert decode_views evaluate train prepare extract report; do $(PY) bench/$$b.py --quick || exit 1; done
	$(PY) bench/hub.py --mb 32
	$(PY) bench/cli_help.py --repeat 3

# every benchmark with a GPU side on CUDA, one results file (bench-gpu-results.json), under 8 minutes
bench-gpu: $(STAMP)
	$(PY) bench/gpu.py --output bench-gpu-results.json

clean:
	rm -rf $(VENV) build *.egg-info demo-output
