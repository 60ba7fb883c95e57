# kafkascope: `make demo` and `make test` do all set-up themselves (apt, venv, pip, Maven).
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMPS := .stamps
SANDBOX_DIR ?= $(CURDIR)/.sandbox

.PHONY: demo test lint typecheck unit integration setup kafka-jars console-assets system-deps demo-down clean

demo: setup
	@$(BIN)/python -m kafkascope.cli.demo --dir "$(SANDBOX_DIR)"

demo-down: setup
	@$(BIN)/kafkascope sandbox down --dir "$(SANDBOX_DIR)"

test: setup lint typecheck
	$(BIN)/pytest -q

unit: setup
	$(BIN)/pytest -q tests/unit

integration: setup
	$(BIN)/pytest -q tests/integration tests/e2e

lint: setup
	$(BIN)/ruff check src tests bench
	$(BIN)/ruff format --check src tests bench

typecheck: setup
	$(BIN)/mypy

setup: system-deps $(STAMPS)/venv kafka-jars console-assets

# Java 17+ and Maven, from Debian's packages when missing (the machine's user is root).
system-deps:
	@command -v java >/dev/null && command -v mvn >/dev/null || { \
	  echo "installing a JDK and Maven with apt-get"; \
	  SUDO=$$( [ "$$(id -u)" = 0 ] || echo sudo ); \
	  $$SUDO apt-get update -q && $$SUDO apt-get install -y -q openjdk-17-jdk-headless maven; }
	@# The console's browser tests drive Debian's Chromium (Playwright cannot download its
	@# own), and npm fetches the console's front-end packages.
	@command -v chromium >/dev/null && command -v npm >/dev/null || { \
	  echo "installing chromium and npm with apt-get"; \
	  SUDO=$$( [ "$$(id -u)" = 0 ] || echo sudo ); \
	  $$SUDO apt-get update -q && $$SUDO apt-get install -y -q chromium npm; }

$(STAMPS)/venv: pyproject.toml
	@mkdir -p $(STAMPS)
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q -e '.[dev]'
	@touch $@

# Apache Kafka 4.3.1 and the JMX agents from Maven Central into kafka/lib (git-ignored);
# ~/.m2 caches them between runs. The pom is package data: an installed kafkascope runs the
# same one with 'kafkascope sandbox fetch' (into ~/.cache/kafkascope/kafka-4.3.1).
KAFKA_POM := src/kafkascope/sandbox/pom.xml
kafka-jars: $(STAMPS)/kafka-jars

$(STAMPS)/kafka-jars: $(KAFKA_POM)
	@mkdir -p $(STAMPS)
	mvn -B -q -Dstyle.color=never -f $(KAFKA_POM) -Dkafkascope.lib=$(CURDIR)/kafka/lib package
	@touch $@

# The web console's front-end packages (htmx, uPlot; axe-core for its tests) from the npm
# registry into build/console-assets (git-ignored; ~/.npm caches them). Served by 'serve'
# itself: no CDN at run time.
CONSOLE_ASSETS := build/console-assets
console-assets: $(STAMPS)/console-assets

$(STAMPS)/console-assets: src/kafkascope/api/console/package.json
	@mkdir -p $(STAMPS) $(CONSOLE_ASSETS)
	cp $< $(CONSOLE_ASSETS)/package.json
	npm install --prefix $(CONSOLE_ASSETS) --no-audit --no-fund --loglevel=error
	@touch $@

clean:
	rm -rf $(STAMPS) kafka/lib kafka/target build .pytest_cache .mypy_cache .ruff_cache
