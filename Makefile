# The two commands a newcomer needs:  make run   and   make test
SHELL := /bin/bash
.PHONY: setup run test unit clean

SETUP_STAMP := .venv/.notewatt-setup
MODEL := models/smollm2-135m-instruct/config.json
ENV := source scripts/env.sh &&

setup: $(SETUP_STAMP) $(MODEL)

$(SETUP_STAMP): pyproject.toml uv.lock
	scripts/setup.sh
	touch $@

$(MODEL): $(SETUP_STAMP)
	.venv/bin/python scripts/prepare_model.py

run: setup
	$(ENV) spark-submit jobs/abstract_notes.py $(ARGS)

test: setup
	$(ENV) python -m pytest $(PYTEST_ARGS)

unit: setup
	$(ENV) python -m pytest -m "not integration" $(PYTEST_ARGS)

clean:
	rm -rf output mlflow.db spark-warehouse
