# Everything installs itself: `make demo` and `make test` work on a fresh clone.
PYTHON ?= python3.11
VENV   := .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.installed
EXAMPLES := order_api order_worker pricing notifier fulfilment libraries
PYTEST_WORKERS ?= auto

.PHONY: install servers layer runtime rie collector daemon adot examples bench-functions lint test test-unit demo up bench soak clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --disable-pip-version-check --upgrade pip
	$(PY) -m pip install --quiet --disable-pip-version-check -e '.[dev]'
	touch $(STAMP)

install: $(STAMP)

layer: $(STAMP)
	$(PY) layer/build.py --json build/layer/sizes.json

runtime: $(STAMP)
	$(PY) -m otel_xray.devtools.functions.sandbox --all --out build/lambda-runtime

# AWS's Runtime Interface Emulator: the binary the aws-sam-cli wheel ships (no Docker).
SAM_CLI_VERSION := 1.170.0
RIE := build/rie/aws-lambda-rie
rie: $(RIE)
$(RIE): | $(STAMP)
	mkdir -p build/rie
	$(PY) -m pip download --quiet --disable-pip-version-check --no-deps \
	  --dest build/rie aws-sam-cli==$(SAM_CLI_VERSION)
	$(PY) -c "import platform, zipfile; arch = {'aarch64': 'arm64'}.get(platform.machine(), 'x86_64'); \
	  data = zipfile.ZipFile('build/rie/aws_sam_cli-$(SAM_CLI_VERSION)-py3-none-any.whl').read('samcli/local/rapid/aws-lambda-rie-' + arch); \
	  open('$(RIE)', 'wb').write(data)"
	chmod +x $(RIE)

# The OpenTelemetry collector, built from source with the collector builder (ocb) at the
# release pinned in collector/builder-config.yaml. Go's module and build caches are
# reused (GOMODCACHE, GOCACHE). This machine's module proxy serves these modules but not
# their checksum-database entries, hence GONOSUMDB for the two module trees; every module
# still comes from the proxy, and go.sum pins what was fetched.
OCB_VERSION := v0.143.0
GO_ENV := GONOSUMDB=go.opentelemetry.io,github.com/open-telemetry GOFLAGS=-buildvcs=false
COLLECTOR := build/bin/otelcol-xray
collector: $(COLLECTOR)
$(COLLECTOR): collector/builder-config.yaml
	mkdir -p build/bin
	$(GO_ENV) GOBIN=$(CURDIR)/build/bin go install go.opentelemetry.io/collector/cmd/builder@$(OCB_VERSION)
	$(GO_ENV) build/bin/builder --config collector/builder-config.yaml
	cp build/collector-src/otelcol-xray $(COLLECTOR)

# The X-Ray daemon from github.com/aws/aws-xray-daemon. This fails here: the module
# proxy refuses the module ("403 Forbidden ... This module version is not available"),
# and make says so. The daemon tests run when build/bin/xray exists, else they skip
# with that reason.
DAEMON_MODULE := github.com/aws/aws-xray-daemon/cmd/tracing
daemon:
	mkdir -p build/bin
	GOBIN=$(CURDIR)/build/bin go install $(DAEMON_MODULE)@latest
	mv build/bin/tracing build/bin/xray

# AWS's own Python distro (ADOT), the reference client of the local OTLP endpoint and
# daemon (tests/e2e/test_adot_reference.py). Its own virtualenv: it pins
# opentelemetry-sdk 1.44 and would downgrade the dev environment's 1.45.
ADOT_VERSION := 0.21.0
ADOT := build/adot-venv/.installed
adot: $(ADOT)
$(ADOT):
	$(PYTHON) -m venv build/adot-venv
	build/adot-venv/bin/pip install --quiet --disable-pip-version-check aws-opentelemetry-distro==$(ADOT_VERSION) botocore
	touch $(ADOT)

# What the library and console tests run against: PostgreSQL, MariaDB, Redis and Chromium
# from Debian's packages, installed where missing (root only; otherwise those tests skip
# and say which package they need).
servers:
	@if [ "$$(id -u)" = 0 ]; then .ci/install-servers; \
	else echo "not root: PostgreSQL, MariaDB, Redis and Chromium are not installed; their tests skip"; fi

# Each example function packaged as Lambda would get it: code plus its requirements.
examples: $(STAMP) $(foreach fn,$(EXAMPLES),build/examples/$(fn)/.built)

build/examples/%/.built: examples/%/app.py examples/%/requirements.txt
	rm -rf build/examples/$*
	mkdir -p build/examples/$*
	cp examples/$*/*.py build/examples/$*/
	$(PY) -m pip install --quiet --disable-pip-version-check --no-compile \
	  --target build/examples/$* -r examples/$*/requirements.txt
	touch $@

# The benchmark's zero-code function, packaged the same way.
bench-functions: build/bench/checkout/.built

build/bench/%/.built: benchmarks/functions/%/app.py benchmarks/functions/%/requirements.txt
	rm -rf build/bench/$*
	mkdir -p build/bench/$*
	cp benchmarks/functions/$*/*.py build/bench/$*/
	$(PY) -m pip install --quiet --disable-pip-version-check --no-compile \
	  --target build/bench/$* -r benchmarks/functions/$*/requirements.txt
	touch $@

lint: $(STAMP)
	$(VENV)/bin/ruff check otel_xray tests examples layer benchmarks
	$(VENV)/bin/cfn-lint deploy/template.yaml deploy/sampling-rules.template.json
	$(VENV)/bin/mypy --strict otel_xray

test: $(STAMP) servers layer runtime rie collector adot examples lint
	$(PY) -m pytest -n $(PYTEST_WORKERS) --dist loadfile -q

test-unit: $(STAMP)
	$(PY) -m pytest -q tests/unit tests/functional

demo: $(STAMP) layer runtime examples
	$(PY) -m examples.demo

# The example's SAM template (deploy/template.yaml) run by `otel-xray up`, fed the example
# orders (examples/requests/orders.json); documents in build/up/segments.jsonl.
up: $(STAMP) layer runtime
	$(PY) -m examples.up

# The long load variant: 10,000 invocations (make test runs 1,000).
soak: $(STAMP) layer runtime examples
	OTEL_XRAY_LOAD_INVOCATIONS=10000 $(VENV)/bin/pytest -q tests/reliability/test_load.py
	$(PY) -m tests.reliability.report

bench: $(STAMP) layer runtime rie examples bench-functions
	$(PY) -m benchmarks.coldstart --runs $${BENCH_RUNS:-15}
	$(PY) -m benchmarks.coldstart_rie --runs $${BENCH_RIE_RUNS:-20}
	$(PY) -m benchmarks.coldstart_cpu --runs $${BENCH_CPU_RUNS:-100}
	$(PY) -m benchmarks.coldstart_profile --runs $${BENCH_PROFILE_RUNS:-21}
	$(PY) -m benchmarks.pii
	$(PY) -m benchmarks.library_calls
	$(PY) -m benchmarks.xray_sdk_bridge
	@cat build/layer/sizes.json

clean:
	rm -rf build .venv .pytest_cache .mypy_cache .ruff_cache
