# ctguard developer entry points. `make test` is THE test command (CI runs it via .ci/run).
SHELL := /bin/bash
.SHELLFLAGS := -euo pipefail -c
.DEFAULT_GOAL := help

# The local AWS emulator (moto server) the tests and the local stack use, on loopback only.
export CTGUARD_MOTO_PORT ?= 5005
export CTGUARD_TEST_AWS_ENDPOINT ?= http://127.0.0.1:$(CTGUARD_MOTO_PORT)
NEXTEST_PROFILE ?= $(if $(CI),ci,default)

.PHONY: help test test-prereqs test-rust lint fmt bench fuzz fuzz-api fuzz-api-ci emulator emulator-stop build local demo poll inbox deploy secrets

help: ## list the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | sed -E 's/:.*## /\t/' | sort

test: emulator test-prereqs test-rust ## run the whole test suite (sets up what it needs, idempotently)

# SAM CLI + cargo-lambda (own venvs), the rustup target, qemu-user and the aarch64 glibc,
# headless Chromium with chromedriver (the triage page's browser test); then,
# side by side (infra/test-builds), the locally built Lambda base image, the x86_64 release
# build the sam tests invoke, the arm64 one (own directory) the qemu tests run, and the test
# binaries. Each step is idempotent and fast when done.
test-prereqs:
	infra/sam/install
	infra/browser/install
	infra/arm64/install
	infra/test-builds

test-rust:
	cargo test --workspace --locked --doc
	@if command -v cargo-nextest >/dev/null; then \
	  cargo nextest run --workspace --locked --profile $(NEXTEST_PROFILE); \
	else \
	  echo "cargo-nextest not found: running cargo test"; cargo test --workspace --locked; \
	fi

lint: ## rustfmt check and clippy with warnings as errors
	cargo fmt --all -- --check
	cargo clippy --workspace --all-targets --locked -- -D warnings

fmt: ## format the code
	cargo fmt --all

bench: emulator ## run every benchmark the README's performance tables quote (TBS hashing, matching, poller throughput, delivery before/after batching, scale: 1,000 entries at the rate limit, cold start, peak RSS)
	cargo bench -p ctguard-core
	cargo bench -p ctguard-tests --bench poller
	cargo build --release --locked -p poller -p api
	cargo bench -p ctguard-tests --bench scale

# Seconds per fuzz target; FUZZ_TARGETS picks some (default: all). Not part of CI.
export FUZZ_SECONDS ?= 600
FUZZ_TARGETS ?=

fuzz: ## run each cargo-fuzz target for FUZZ_SECONDS (default 600), one at a time, one core
	fuzz/run $(FUZZ_TARGETS)

# schemathesis over openapi.yaml against `api --listen` on the emulator (see README).
FUZZ_API_EXAMPLES ?= 200
FUZZ_API_SEED ?= 20261130
FUZZ_API_MAX_TIME ?=
fuzz-api: ## schemathesis, all checks + stateful, over openapi.yaml against the local API (200 examples per operation)
	infra/fuzz-api/run --examples $(FUZZ_API_EXAMPLES) --seed $(FUZZ_API_SEED) $(if $(FUZZ_API_MAX_TIME),--max-time $(FUZZ_API_MAX_TIME),)

# CI: a few minutes on 2 cores; seeded and single-worker, so the same cases every run.
fuzz-api-ci: ## the short fuzz-api run CI does (25 examples per operation, seeded)
	infra/fuzz-api/run --examples 25 --seed $(FUZZ_API_SEED)

emulator: ## start the local AWS emulator (moto server on 127.0.0.1:$CTGUARD_MOTO_PORT) if not running
	infra/local-aws/start

emulator-stop: ## stop the local AWS emulator
	infra/local-aws/stop

build: ## sam build for the host architecture (ARCH=arm64 for deploys)
	infra/sam/build $(if $(ARCH),--arch $(ARCH),)

local: ## run the whole system locally: emulator, API on a local port, poller on a timer
	infra/local/run

demo: ## like `local`, with a fake Cert Spotter and sample data (no internet needed)
	infra/local/run --demo

poll: ## one poller run against the local stack
	infra/local/poll

inbox: ## show what the local stack's SNS topic and SES sender delivered (CONSUME=1: and remove it)
	infra/local/inbox $(if $(CONSUME),--consume,)

deploy: ## sam build + sam deploy (guided on first use)
	infra/deploy

secrets: ## store the API token hashes, the Cert Spotter key and a cursor key (if missing) in SSM (one-time setup)
	infra/deploy --setup-secrets
