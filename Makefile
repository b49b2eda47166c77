# Siyu: the two commands a newcomer needs are `make demo` and `make test`.
PYTHON ?= python3.11
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-$(shell cat requirements.txt pyproject.toml | cksum | cut -d' ' -f1)
VENDOR := siyu/console/static/vendor

.PHONY: demo test install assets lint clean

demo: install assets
	$(BIN)/siyu demo

test: install assets
	bash scripts/test.sh

install: $(STAMP)

$(STAMP): requirements.txt pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q -r requirements.txt
	$(BIN)/pip install -q --no-deps --no-build-isolation -e .
	rm -f $(VENV)/.installed-*
	touch $(STAMP)

assets: $(VENDOR)/.stamp

$(VENDOR)/.stamp: package.json package-lock.json
	npm ci --no-audit --no-fund --loglevel=error
	mkdir -p $(VENDOR)
	cp node_modules/htmx.org/dist/htmx.min.js $(VENDOR)/htmx.min.js
	cp node_modules/echarts/dist/echarts.min.js $(VENDOR)/echarts.min.js
	touch $@

lint: install
	$(BIN)/ruff check siyu simulator tests bench
	$(BIN)/mypy siyu simulator tests bench
	$(BIN)/lint-imports

clean:
	rm -rf $(VENV) node_modules $(VENDOR) var
