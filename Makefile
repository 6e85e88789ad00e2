# SNIPER on stock MXNet/Gluon. `make quickstart` runs the main job on the embedded dataset; `make test` the tests.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed
DEEPFOREST_WHEEL_DIR := data/cache/wheels

.PHONY: setup test quickstart quickstart-deepforest bench clean

setup: $(STAMP) $(DEEPFOREST_WHEEL_DIR)/.done

$(STAMP): requirements.txt
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -r requirements.txt
	touch $(STAMP)

# The deepforest wheel carries 4 annotated aerial images (MIT); only its data files are read.
$(DEEPFOREST_WHEEL_DIR)/.done:
	mkdir -p $(DEEPFOREST_WHEEL_DIR)
	$(PY) -m pip download -q --no-deps deepforest==2.1.0 -d $(DEEPFOREST_WHEEL_DIR) && touch $@ \
	  || echo "warning: could not download the deepforest wheel; its tests will be skipped"

test: setup
	$(PY) -m pytest -q tests

quickstart: setup
	$(PY) scripts/make_shapes.py --cfg configs/quickstart/shapes_cpu.yml

clean:
	rm -rf $(VENV) output debug
