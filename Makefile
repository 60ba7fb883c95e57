# kafkascope: `make demo` and `make test` do all set-up themselves (apt, venv, pip, Maven).
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMPS := .stamps
SANDBOX_DIR ?= $(CURDIR)/.sandbox

.PHONY: demo test lint typecheck unit integration setup kafka-jars jmx-helper telemetry-plugin telemetry-plugin-test console-assets system-deps demo-down clean image image-context

demo: setup
	@$(BIN)/python -m kafkascope.cli.demo --dir "$(SANDBOX_DIR)"

demo-down: setup
	@$(BIN)/kafkascope sandbox down --dir "$(SANDBOX_DIR)"

test: setup lint typecheck
	$(BIN)/pytest -q --durations=25

unit: setup
	$(BIN)/pytest -q tests/unit

integration: setup
	$(BIN)/pytest -q tests/integration tests/e2e

lint: setup
	$(BIN)/ruff check src tests bench
	$(BIN)/ruff format --check src tests bench

typecheck: setup
	$(BIN)/mypy

setup: system-deps $(STAMPS)/venv kafka-jars jmx-helper telemetry-plugin console-assets

# Java 17+ and Maven, from Debian's packages when missing (the machine's user is root).
system-deps:
	@command -v java >/dev/null && command -v mvn >/dev/null || { \
	  echo "installing a JDK and Maven with apt-get"; \
	  SUDO=$$( [ "$$(id -u)" = 0 ] || echo sudo ); \
	  $$SUDO apt-get update -q && $$SUDO apt-get install -y -q openjdk-17-jdk-headless maven; }
	@# The console's browser tests drive Debian's Chromium (Playwright cannot download its
	@# own), and npm fetches the console's front-end packages.
	@# Each only when missing: a machine whose Node.js comes from elsewhere has its own npm,
	@# and Debian's npm package conflicts with that nodejs.
	@command -v chromium >/dev/null || { \
	  echo "installing chromium with apt-get"; \
	  SUDO=$$( [ "$$(id -u)" = 0 ] || echo sudo ); \
	  $$SUDO apt-get update -q && $$SUDO apt-get install -y -q chromium; }
	@command -v npm >/dev/null || { \
	  echo "installing npm with apt-get"; \
	  SUDO=$$( [ "$$(id -u)" = 0 ] || echo sudo ); \
	  $$SUDO apt-get update -q && $$SUDO apt-get install -y -q npm; }
	@# contrib/systemd/kafkascope.service is checked with systemd-analyze verify.
	@command -v systemd-analyze >/dev/null || { \
	  echo "installing systemd (for systemd-analyze) with apt-get"; \
	  SUDO=$$( [ "$$(id -u)" = 0 ] || echo sudo ); \
	  $$SUDO apt-get update -q && $$SUDO apt-get install -y -q systemd; }
	@# The Alertmanager receiver's e2e test runs Debian's Alertmanager on loopback.
	@command -v prometheus-alertmanager >/dev/null || { \
	  echo "installing prometheus-alertmanager with apt-get"; \
	  SUDO=$$( [ "$$(id -u)" = 0 ] || echo sudo ); \
	  $$SUDO apt-get update -q && $$SUDO apt-get install -y -q prometheus-alertmanager; }
	@# contrib/prometheus's rules are checked and unit-tested with promtool, and their e2e
	@# test runs Debian's Prometheus on loopback (the service the package may start is
	@# stopped: it would listen on every interface).
	@command -v prometheus >/dev/null && command -v promtool >/dev/null || { \
	  echo "installing prometheus (and promtool) with apt-get"; \
	  SUDO=$$( [ "$$(id -u)" = 0 ] || echo sudo ); \
	  $$SUDO apt-get update -q && $$SUDO apt-get install -y -q prometheus && \
	  { $$SUDO systemctl disable --now prometheus >/dev/null 2>&1 || true; }; }

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

# The JMX reader's small Java helper (sources/jmx/java/KafkascopeJmx.java), compiled into
# package data next to it (git-ignored): the wheel ships it, so a JRE is enough at run time.
JMX_HELPER := src/kafkascope/sources/jmx/java
jmx-helper: $(JMX_HELPER)/kafkascope-jmx.jar

$(JMX_HELPER)/kafkascope-jmx.jar: $(JMX_HELPER)/KafkascopeJmx.java src/kafkascope/sources/jmx/javajar.py $(STAMPS)/venv
	$(BIN)/python -m kafkascope.sources.jmx.javajar

# kafkascope's KIP-714 broker plugin (docs/telemetry.md): Maven compiles it against the Kafka
# 4.3.1 API and runs its JUnit 5 tests, then packages
# kafka/telemetry-plugin/target/kafkascope-telemetry-plugin.jar (git-ignored), which the
# sandbox puts on every broker's classpath. Rebuilt and retested whenever its sources change;
# 'make telemetry-plugin-test' reruns the tests regardless.
PLUGIN_DIR := kafka/telemetry-plugin
PLUGIN_SRC := $(PLUGIN_DIR)/pom.xml $(shell find $(PLUGIN_DIR)/src -name '*.java' 2>/dev/null)
telemetry-plugin: $(STAMPS)/telemetry-plugin

$(STAMPS)/telemetry-plugin: $(PLUGIN_SRC)
	@mkdir -p $(STAMPS)
	mvn -B -q -Dstyle.color=never -f $(PLUGIN_DIR)/pom.xml package
	@touch $@

telemetry-plugin-test:
	mvn -B -q -Dstyle.color=never -f $(PLUGIN_DIR)/pom.xml test

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

# A container image (Containerfile) made from the same wheel as 'python -m build': its whole
# build context is build/image/ (the wheel and the console's front-end files). Needs podman,
# or docker with its daemon running; without one it says so and fails before building.
VERSION := $(shell sed -n 's/^version = "\(.*\)"/\1/p' pyproject.toml)
IMAGE ?= kafkascope:$(VERSION)
image:
	@engine=$$(for e in podman docker; do \
	  command -v $$e >/dev/null 2>&1 && $$e info >/dev/null 2>&1 && { echo $$e; break; }; done); \
	if [ -z "$$engine" ]; then \
	  echo "make image: no container engine answers here (podman, or docker with its daemon running). Fix: install podman or start docker; the wheel alone: $(BIN)/python -m build" >&2; \
	  exit 1; fi; \
	$(MAKE) --no-print-directory image-context && \
	$$engine build -f Containerfile -t $(IMAGE) build/image && echo "built $(IMAGE) with $$engine"

image-context: setup
	rm -rf build/image && mkdir -p build/image/console-assets
	$(BIN)/python -m build --outdir build/image .
	rm -f build/image/*.tar.gz
	cd $(CONSOLE_ASSETS)/node_modules && cp --parents htmx.org/LICENSE htmx.org/dist/htmx.min.js \
	  uplot/LICENSE uplot/dist/uPlot.iife.min.js uplot/dist/uPlot.min.css $(CURDIR)/build/image/console-assets/

clean:
	rm -rf $(STAMPS) kafka/lib kafka/target $(PLUGIN_DIR)/target build .pytest_cache .mypy_cache .ruff_cache
