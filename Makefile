# The two commands a newcomer needs: `make run` (the whole stack) and `make test` (every tier).
SHELL := /bin/bash
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
PIP := $(BIN)/python -m pip install --quiet --disable-pip-version-check
# What is installed, each stamp written only once pip succeeded: `make run` needs the app and
# its two servers, `make test` and `make bench` add their tools on top.
RUN_STAMP := $(VENV)/.run-installed
DEV_STAMP := $(VENV)/.dev-installed

.PHONY: venv dev run test lint check pytest browser-deps docker-engine e2e-docker bench readme \
	clean persistence-check rolling-upgrade

# devstack/venv.sh checks for Python 3.11 or later first, and makes the venv again when the one
# there was made by an older Python or not finished.
$(RUN_STAMP): requirements.txt requirements-run.txt
	@sh devstack/venv.sh $(VENV) $(PYTHON)
	@echo "installing the app, Traefik and nginx into $(VENV) (requirements-run.txt)"
	@$(PIP) -r requirements-run.txt
	@touch $@

$(DEV_STAMP): requirements-dev.txt $(RUN_STAMP)
	@echo "installing the test and benchmark tools into $(VENV) (requirements-dev.txt)"
	@$(PIP) -r requirements-dev.txt
	@touch $@

venv: $(RUN_STAMP)
dev: $(DEV_STAMP)

## run: Traefik, nginx and gunicorn on loopback; Ctrl-C or closing the terminal stops all three
run: $(RUN_STAMP)
	@$(BIN)/python -m devstack

## test: lint and config checks, then the unit and stack tests and the Docker tier side by side
## (what each installs, the browser and the engine, is installed first, one at a time)
test: lint check browser-deps docker-engine
	@$(MAKE) --no-print-directory -j2 --output-sync=target pytest e2e-docker

lint: dev
	$(BIN)/ruff check .

## check: every config is accepted by the program that reads it (no Docker engine needed)
check: dev
	$(BIN)/python -m devstack.check
	UPLOADS_AUTH=none UPLOADS_PUBLIC_BASE_URL=https://example.com $(wildcard $(VENV)/lib/python3*/site-packages/compose/docker-compose) -f docker-compose.traefik.yml --env-file /dev/null config --quiet
	UPLOADS_AUTH=none UPLOADS_PUBLIC_BASE_URL=https://example.com $(wildcard $(VENV)/lib/python3*/site-packages/compose/docker-compose) -f docker-compose.traefik.yml -f docker-compose.s3.yml --env-file /dev/null config --quiet

pytest: dev browser-deps
	$(BIN)/pytest

## browser-deps: Debian's chromium for the browser tests (Playwright, from requirements-dev.txt,
## drives it; no browser download). Without root or apt-get the browser tests skip, saying why.
browser-deps:
	@if [ -x /usr/bin/chromium ]; then exit 0; fi; \
	if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
	  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq \
	    --no-install-recommends chromium fonts-dejavu-core >/dev/null \
	  || echo "browser-deps: installing chromium failed; the browser tests will skip"; \
	else echo "browser-deps: no /usr/bin/chromium and no root apt-get; the browser tests will skip"; fi

## docker-engine: install and start the Docker engine the Docker tier uses (without one, that
## tier skips, saying why)
docker-engine: dev
	@VENV=$(VENV) bash docker/engine.sh start || echo "docker-engine: no engine; the Docker tier will skip"

## e2e-docker: the compose deployment against a real Docker engine (skips, saying why, without one)
e2e-docker: dev
	$(BIN)/pytest -m docker tests/docker

## persistence-check: on a compose deployment (from its folder, as an operator), the incident
## replayed: upload, recreate the app and static containers, fetch the same URL and compare the
## bytes and the volume's id (docs/deploy.md, the checklist). The server's python3 is enough.
## URL= (default: UPLOADS_PUBLIC_BASE_URL in .env), EXISTING="url ...", COMPOSE="docker compose
## -f ...", and SMOKE_TOKEN with UPLOADS_AUTH=jwt.
persistence-check:
	@$(PYTHON) devstack/persistence.py $(if $(URL),--url "$(URL)") \
	  $(foreach url,$(EXISTING),--existing "$(url)") $(if $(COMPOSE),--compose "$(COMPOSE)")

## rolling-upgrade: on a scale-out deployment (docker-compose.s3.yml, from its folder), replace
## the app replicas one at a time with the current image and settings, so that uploads go on
## (docs/deploy.md, "Scale out"). COMPOSE="docker compose -f ..." for other files.
rolling-upgrade:
	@$(PYTHON) devstack/rolling.py $(if $(COMPOSE),--compose "$(COMPOSE)")

## bench: serving, uploading, memory and scale benchmarks on loopback (a few minutes;
## BENCH_QUICK=1 for under a minute); prints one table, see docs/performance.md
bench: dev
	@command -v wrk >/dev/null || { apt-get update -qq && apt-get install -y -qq wrk >/dev/null; }
	$(BIN)/python -m bench

## readme: render what is generated from one source: the settings table into README.md, the
## edge's JSON error bodies (from uploads/messages.py) into nginx/errors.conf
readme: venv
	$(BIN)/python -c 'from uploads.settings import write_readme; write_readme("README.md")'
	$(BIN)/python -m uploads.edge_errors

clean:
	rm -rf $(VENV) .pytest_cache .ruff_cache
