# The two commands of the README: `make run` and `make test`. Both first make sure NATS
# (JetStream on) and PostgreSQL are reachable, starting or installing them where they are not.

SHELL := /bin/bash
export DATABASE_URL ?= postgres://postgres@127.0.0.1:5432/fleetledger
export NATS_URL ?= nats://127.0.0.1:4222

.PHONY: run test services build venv fuzz-venv fuzz chaos bench lint fmt docs-assets console-deps

services:
	@deploy/local/up.sh

build:
	cargo build -p fleetd

## Serve on FLEET_LISTEN (default 127.0.0.1:8080); migrations run on start.
run: services build
	./target/debug/fleetd migrate
	./target/debug/fleetd serve

## The Python environment of the dialect tests: the real clients, pinned.
VENV := target/venv-waldur
venv: $(VENV)/.installed
$(VENV)/.installed: tests/waldur/requirements.txt
	python3 -m venv $(VENV)
	$(VENV)/bin/pip install --quiet --disable-pip-version-check -r tests/waldur/requirements.txt
	touch $@

## The fuzzer (schemathesis), pinned, in a venv of its own.
FUZZ_VENV := target/venv-fuzz
fuzz-venv: $(FUZZ_VENV)/.installed
$(FUZZ_VENV)/.installed: tests/fuzz/requirements.txt
	python3 -m venv $(FUZZ_VENV)
	$(FUZZ_VENV)/bin/pip install --quiet --disable-pip-version-check -r tests/fuzz/requirements.txt
	touch $@

## cargo-fuzz, from crates.io, kept in target/tools; its targets build on the nightly toolchain.
CARGO_FUZZ := target/tools/bin/cargo-fuzz
$(CARGO_FUZZ):
	cargo install --locked cargo-fuzz --root target/tools

FUZZ_TARGETS := event_envelope money usage_batch astra_listing waldur_query
FUZZ_SECONDS ?= 60

## The long fuzzing run: schemathesis over every API document, every phase, 100 examples per
## operation; then each parser under libFuzzer for FUZZ_SECONDS, from the committed seeds.
fuzz: services build fuzz-venv $(CARGO_FUZZ)
	FLEET_FUZZ=long cargo nextest run --profile fuzz -p fleet-tests --test fuzz --no-capture
	for target in $(FUZZ_TARGETS); do \
		mkdir -p fuzz/corpus/$$target; \
		RUSTUP_TOOLCHAIN=nightly $(CARGO_FUZZ) fuzz run --fuzz-dir fuzz --target-dir target/fuzz-build \
			$$target fuzz/corpus/$$target fuzz/seeds/$$target -- -max_total_time=$(FUZZ_SECONDS) || exit 1; \
	done

## Faults under command and usage load, on servers of the suite's own (initdb, nats-server,
## a three-node cluster) on loopback ports of their own: prints what was acknowledged, stored,
## counted and lost, and how long recovery took; fails on any loss. See RELIABILITY.md.
chaos: build
	cargo nextest run -p fleet-tests --test chaos --run-ignored only --no-capture

## The whole test suite against real NATS and PostgreSQL, the tenant sweep and a short fuzzing
## run among them. The end-to-end tests start the fleetd binary, so it is built first.
test: services build venv fuzz-venv console-deps
	@if cargo nextest --version >/dev/null 2>&1; then \
		cargo nextest run --workspace --no-fail-fast; \
	else \
		cargo test --workspace --no-fail-fast; \
	fi

PEER := target/peer-cqrs-es/release/peer-cqrs-es

## Throughput and latency beside the raw ceilings and the cqrs-es peer, in release mode.
bench: services
	cargo build --release -p fleetd
	cargo build --release --manifest-path ../shared/peers/cqrs-es/Cargo.toml --target-dir target/peer-cqrs-es
	target/release/fleetd bench commands --concurrency 8,32,64 --peer $(PEER)
	target/release/fleetd bench usage
	target/release/fleetd bench replay
	target/release/fleetd bench cost-queries

lint:
	cargo fmt --all -- --check
	cargo clippy --all-targets -- -D warnings

fmt:
	cargo fmt --all

## The console's end-to-end test: Debian's chromium, and playwright-core from npm (pinned in
## console/package-lock.json; it never downloads a browser of its own).
console-deps: console/node_modules/.installed
console/node_modules/.installed: console/package.json console/package-lock.json
	@command -v chromium >/dev/null 2>&1 || { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null; }
	npm ci --prefix console --no-audit --no-fund --silent
	touch $@

## The API reference's assets (Swagger UI from npm, pinned in console/package-lock.json),
## vendored into services/api/assets so that builds and /docs need no network.
docs-assets:
	npm ci --prefix console --no-audit --no-fund
	cp console/node_modules/swagger-ui-dist/{swagger-ui-bundle.js,swagger-ui.css,LICENSE,NOTICE} services/api/assets/swagger-ui/
	cp console/node_modules/chart.js/dist/chart.umd.min.js services/api/assets/console/
	cp console/node_modules/chart.js/LICENSE.md services/api/assets/console/chart.js-LICENSE.md
