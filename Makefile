# BriefThreat developer entry points.
#
#   make run    serve every function locally on http://127.0.0.1:$(PORT) (the project's emulator)
#   make serve  the self-hosted runtime: release binaries under the emulator, config from .env
#   make watch  `cargo lambda watch`: edit-and-reload (its emulator can lose responses)
#   make test   the release check: lint, Rust tests, black-box HTTP tests on SQLite and MariaDB
#   make lint   rustfmt + clippy, warnings are errors
#   make validate  template.yaml (cfn-lint, sam validate), docker-compose.yml, the nginx template
#   make e2e    HTTPS through nginx to the functions, MariaDB, Redis; Chromium on the password page
#   make bench  sizes, cold starts, warm latency/throughput (release, MariaDB; README.md)
#   make bench-quick  the same rows at reduced durations and sizes (under 2 minutes after the build)
#   make bench-compare OLD=<rev>  an earlier revision's binaries beside these, in one run
#   make size-copies FUNCTION=<name>  how much of a function's code is compiled twice (README)
#
# Configuration comes from the environment and an optional .env (the environment wins);
# the binaries read both themselves, this Makefile only passes the environment through.

SHELL := /bin/bash
.SHELLFLAGS := -eu -o pipefail -c
.ONESHELL:
.DEFAULT_GOAL := help
# Recipes with shell logic print their own progress lines; cargo and pytest commands echo.

PORT ?= 9000
PYTHON ?= python3
VENV := .venv
CARGO_LAMBDA_VERSION := 1.9.2
# Everything `make run` and `make test` need from PyPI, pinned; one project-local venv.
PY_DEPS := cargo-lambda==$(CARGO_LAMBDA_VERSION) pytest==9.2.0 requests==2.34.2 PyMySQL==1.2.4 PyJWT==2.15.1 passlib==1.7.4 aiosmtpd==1.4.6 moto[server]==5.2.5 boto3==1.44.5 selenium==4.51.0 PyYAML==6.0.4
# The Flask service's link library for tests/test_flask_import.py, in a directory of its own
# (tests/flask_legacy.py runs with it on PYTHONPATH): 1.1.0 is what the old service ran, and
# the venv's Flask (via moto[server]) needs itsdangerous 2.
LEGACY_PY_DEPS := itsdangerous==1.1.0
SUDO := $(if $(filter 0,$(shell id -u)),,sudo)
# Packed relative relocations (DT_RELR) in everything built here: the ~7,400 pointers a
# binary's tables hold are rebased at start from a ~2 KiB bitmap instead of 24-byte entries,
# 0.17 MiB less in every binary, still position-independent. The loader must know DT_RELR
# (glibc 2.36+), so only where this machine's glibc has it: what it builds runs on it (and
# Docker's images are Debian 13, glibc 2.41). Not in SAM's `cargo lambda build`, which
# does not go through make: Lambda's provided.al2023 has glibc 2.34.
GLIBC_MINOR := $(shell getconf GNU_LIBC_VERSION 2>/dev/null | sed -n 's/^glibc 2\.\([0-9]*\).*/\1/p')
ifeq ($(shell [ "$(GLIBC_MINOR)" -ge 36 ] 2>/dev/null && uname -m),x86_64)
export CARGO_TARGET_X86_64_UNKNOWN_LINUX_GNU_RUSTFLAGS ?= -C link-arg=-Wl,-z,pack-relative-relocs
endif
# cfn-lint and the SAM CLI for `make validate`, pinned, in a venv of their own: aws-sam-cli
# pins boto3 and friends, which would clash with the pins above.
AWS_VENV := .venv-aws
AWS_DEPS := aws-sam-cli==1.170.0 cfn-lint==1.58.0

# The SQLite database and locally written e-mails live in data/ and change on every
# request; they must never make `cargo lambda watch` reload. cargo-lambda already honours
# .gitignore (which lists /data); .cargolambdaignore is belt and braces for checkouts
# without the .gitignore and is picked up from the repository root.

.PHONY: help run serve watch test lint build venv system-packages toolchain bench bench-quick bench-compare size-copies e2e validate
# Prerequisites run in the order listed (system packages before the venv, lint first).
.NOTPARALLEL:
.SILENT: help venv toolchain run serve watch system-packages bench bench-quick bench-compare validate

help:
	@echo "make run   - build, migrate and serve on http://127.0.0.1:$(PORT) (PORT=... to change)"
	@echo "make serve - release binaries under the emulator, config from .env (LISTEN=host:port)"
	@echo "make watch - cargo lambda watch, rebuilds on edit (can lose responses)"
	@echo "make test  - lint + cargo test + pytest against throwaway MariaDB/Redis"
	@echo "make lint  - cargo fmt --check + clippy -D warnings"
	@echo "make validate - cfn-lint + sam validate --lint, docker-compose config, nginx -t (offline)"

# --- Python tooling (cargo-lambda, pytest and friends) in .venv ----------------------------
venv:
	if [ ! -x $(VENV)/bin/python ]; then
	  echo "==> creating $(VENV)"
	  $(PYTHON) -m venv $(VENV)
	fi
	if [ "$$(cat $(VENV)/.installed 2>/dev/null)" != "$(PY_DEPS)" ]; then
	  echo "==> installing into $(VENV): $(PY_DEPS)"
	  $(VENV)/bin/python -m pip install --quiet --disable-pip-version-check $(PY_DEPS)
	  echo "$(PY_DEPS)" > $(VENV)/.installed
	fi
	if [ "$$(cat $(VENV)/flask-legacy/.installed 2>/dev/null)" != "$(LEGACY_PY_DEPS)" ]; then
	  echo "==> installing into $(VENV)/flask-legacy: $(LEGACY_PY_DEPS)"
	  $(VENV)/bin/python -m pip install --quiet --disable-pip-version-check --no-deps --upgrade --target $(VENV)/flask-legacy $(LEGACY_PY_DEPS)
	  echo "$(LEGACY_PY_DEPS)" > $(VENV)/flask-legacy/.installed
	fi

# --- Rust -----------------------------------------------------------------------------------
toolchain:
	if ! cargo fmt --version >/dev/null 2>&1 || ! cargo clippy --version >/dev/null 2>&1; then
	  echo "==> adding rustfmt and clippy"
	  rustup component add rustfmt clippy
	fi

# Every binary of the workspace, so that no request ever waits for a compile.
build:
	cargo build --workspace --bins

lint: toolchain
	cargo fmt --all -- --check
	cargo clippy --workspace --all-targets -- -D warnings
	python3 local/check_layout.py

# --- make validate --------------------------------------------------------------------------
# The deployment descriptions, offline: template.yaml (AWS SAM), docker-compose.yml (with a
# .env made from .env.example, placeholder secrets; there is no Docker engine to run it) and
# the nginx server blocks (rendered as the e2e test does, then `nginx -t`; nothing listens).
validate:
	missing=()
	PATH="$$PATH:/usr/sbin:/sbin"
	command -v docker-compose >/dev/null || missing+=(docker-compose)
	command -v nginx >/dev/null || missing+=(nginx)
	command -v openssl >/dev/null || missing+=(openssl)
	[ -x $(AWS_VENV)/bin/python ] || $(PYTHON) -c 'import ensurepip, venv' 2>/dev/null || missing+=(python3-venv)
	if [ $${#missing[@]} -gt 0 ]; then
	  echo "==> installing system packages: $${missing[*]}"
	  $(SUDO) env DEBIAN_FRONTEND=noninteractive apt-get update
	  $(SUDO) env DEBIAN_FRONTEND=noninteractive apt-get install -y "$${missing[@]}"
	fi
	if [ ! -x $(AWS_VENV)/bin/python ]; then
	  echo "==> creating $(AWS_VENV)"
	  $(PYTHON) -m venv $(AWS_VENV)
	fi
	if [ "$$(cat $(AWS_VENV)/.installed 2>/dev/null)" != "$(AWS_DEPS)" ]; then
	  echo "==> installing into $(AWS_VENV): $(AWS_DEPS)"
	  $(AWS_VENV)/bin/python -m pip install --quiet --disable-pip-version-check $(AWS_DEPS)
	  echo "$(AWS_DEPS)" > $(AWS_VENV)/.installed
	fi
	export SAM_CLI_TELEMETRY=0 AWS_DEFAULT_REGION=$${AWS_DEFAULT_REGION:-eu-west-1}
	echo "==> cfn-lint template.yaml"
	$(AWS_VENV)/bin/cfn-lint template.yaml
	echo "==> sam validate --lint --template template.yaml"
	$(AWS_VENV)/bin/sam validate --lint --template template.yaml
	echo "==> docker-compose config -q (.env from .env.example)"
	project="$$(mktemp -d)"
	trap 'rm -rf "$$project"' EXIT
	sed -E 's/^(MYSQL_PASSWORD|MYSQL_ROOT_PASSWORD)=$$/\1=validate-only/' .env.example > "$$project/.env"
	docker-compose -f docker-compose.yml --project-directory "$$project" config -q
	echo "==> nginx -t on local/nginx/briefthreat.conf.template"
	$(PYTHON) local/render_nginx.py --check

# --- make run -------------------------------------------------------------------------------
# The debug binaries under the project's emulator (local/lambda-emulator): it migrates, serves
# the routes on $(PORT), invokes `email` after each commit that queues mail, and runs the
# schedules. Nothing to install but the Rust toolchain.
# `env_or_dotenv KEY`: the value the binaries will see (environment first, then .env).
run: build
	env_or_dotenv() {
	  if [ -n "$${!1+set}" ]; then printf '%s' "$${!1}"; return; fi
	  [ -f .env ] || return 0
	  sed -nE "s/^[[:space:]]*(export[[:space:]]+)?$$1[[:space:]]*=[[:space:]]*(.*)$$/\2/p" .env | head -n 1 |
	    sed -E "s/^\"(.*)\"[[:space:]]*$$/\1/; t; s/^'(.*)'[[:space:]]*$$/\1/; t; s/[[:space:]]+#.*$$//; s/[[:space:]]+$$//"
	}
	flask_env="$$(env_or_dotenv FLASK_ENV)"
	root_password="$$(env_or_dotenv ROOT_PASSWORD)"
	if [ -z "$${root_password//[[:space:]]/}" ]; then
	  if [ "$$flask_env" = production ]; then
	    root_note="no password: ROOT_PASSWORD is not set, so root gets the registration e-mail with a set-password link at ROOT_EMAIL"
	  else
	    export ROOT_PASSWORD=briefthreat
	    root_note="password 'briefthreat' (ROOT_PASSWORD was not set: development default for this run; set it in .env or the environment)"
	  fi
	elif [ -n "$${ROOT_PASSWORD+set}" ]; then
	  root_note="password: the ROOT_PASSWORD set in the environment"
	else
	  root_note="password: the ROOT_PASSWORD set in .env"
	fi
	echo
	echo "BriefThreat is starting on http://127.0.0.1:$(PORT)  (health: http://127.0.0.1:$(PORT)/health)"
	echo "Log in as root: username 'root', $$root_note"
	echo "(root's password is set when root is created: a fresh database, e.g. after deleting data/)"
	echo
	exec target/debug/lambda-emulator --bin-dir target/debug --listen 127.0.0.1:$(PORT)

# --- make import-flask FROM=mysql://user:password@host:3306/olddb -------------------------
# Copies the Flask service's database into the configured one (DATABASE_URL / MYSQL_*, from
# the environment or .env), read only on the old side; README, "Moving from the Flask
# deployment". IMPORT_FLAGS=--allow-non-empty to import into a database that holds data.
.PHONY: import-flask
import-flask:
	if [ -z "$(FROM)" ]; then echo "usage: make import-flask FROM=mysql://user:password@host:3306/database"; exit 2; fi
	cargo build --release -p migrate
	target/release/migrate --import-flask '$(FROM)' $(IMPORT_FLAGS)

# --- make serve -----------------------------------------------------------------------------
# Self-hosting without Docker (what compose's `functions` container runs): release binaries
# under the emulator, configuration from the environment and .env; LISTEN to change where.
LISTEN ?= 127.0.0.1:$(PORT)
serve:
	cargo build --release --workspace --bins
	exec target/release/lambda-emulator --bin-dir target/release --listen $(LISTEN)

# --- make watch -----------------------------------------------------------------------------
# cargo-lambda's emulator, for edit-and-reload: it rebuilds a function when its code changes.
# Its emulator (1.9.2) can lose responses now and then, serves its Lambda APIs on the same
# port, and has no schedules: commits invoke `email` through its Invoke API, failed
# messages wait for the next commit. Use `make run` for anything but editing.
watch: venv
	export EMAIL_INVOKE_URL=http://127.0.0.1:$(PORT)/2015-03-31/functions/email/invocations
	$(VENV)/bin/cargo-lambda lambda watch -A 127.0.0.1 -P $(PORT)

# --- make test ------------------------------------------------------------------------------
# MariaDB and Redis binaries for local/harness.py's throwaway servers, a Python with venv;
# nginx, openssl and headless Chromium (+ chromedriver) for the end-to-end test.
system-packages:
	missing=()
	PATH="$$PATH:/usr/sbin:/sbin"
	{ command -v mariadbd && command -v mariadb-install-db; } >/dev/null || missing+=(mariadb-server)
	command -v redis-server >/dev/null || missing+=(redis-server)
	command -v nginx >/dev/null || missing+=(nginx)
	command -v openssl >/dev/null || missing+=(openssl)
	command -v chromium >/dev/null || missing+=(chromium)
	command -v chromedriver >/dev/null || missing+=(chromium-driver)
	command -v $(PYTHON) >/dev/null || missing+=(python3)
	[ -x $(VENV)/bin/python ] || $(PYTHON) -c 'import ensurepip, venv' 2>/dev/null || missing+=(python3-venv)
	if [ $${#missing[@]} -gt 0 ]; then
	  echo "==> installing system packages: $${missing[*]}"
	  $(SUDO) env DEBIAN_FRONTEND=noninteractive apt-get update
	  $(SUDO) env DEBIAN_FRONTEND=noninteractive apt-get install -y "$${missing[@]}"
	fi

# Lint first (part of the release check), then every test against throwaway servers.
test: lint validate system-packages venv build
	$(VENV)/bin/python local/harness.py -- bash -c \
	  'cargo test --workspace && $(VENV)/bin/python -m pytest tests/ -q -rA'

# The self-hosted topology without Docker, over HTTPS: nginx (the project's template, a
# self-signed certificate) -> emulator + function binaries -> MariaDB, Redis, an SMTP sink;
# the password page in headless Chromium. Also part of `make test` (tests/test_e2e.py).
e2e: system-packages venv build
	$(VENV)/bin/python local/harness.py -- \
	  $(VENV)/bin/python -m pytest tests/test_e2e.py -q -rA

# --- make bench -----------------------------------------------------------------------------
# The binaries as deployed, built the way SAM builds them: each function from its own
# directory (its CodeUri), so with only its own dependencies' features. One `cargo build` of
# the whole workspace would unify the features of `email`'s AWS SDK (hyper's HTTP/2, native
# roots) and of the emulator (hyper's server) into every function: about 0.8 MiB each. The
# other functions and `migrate` ask for the same features, so they build together.
RELEASE_BUILD = cargo build --release --no-default-features --workspace --bins --exclude email --exclude lambda-emulator \
	&& cargo build --release --no-default-features -p email \
	&& cargo build --release -p lambda-emulator

# Release binaries (the functions as deployed, and the emulator they run under) and the argon2
# example are built first, so nothing compiles while a clock runs; wrk (Debian) is the load generator,
# nginx (Debian) the proxy of the `· nginx` rows, the venv's cargo-lambda the runtime of the
# `· cargo-lambda` comparison rows. About 10 minutes after the build; writes
# target/bench/bench.{txt,json} (README.md).
bench: system-packages venv
	missing=()
	PATH="$$PATH:/usr/sbin:/sbin"
	command -v wrk >/dev/null || missing+=(wrk)
	command -v nginx >/dev/null || missing+=(nginx)
	command -v openssl >/dev/null || missing+=(openssl)
	if [ $${#missing[@]} -gt 0 ]; then
	  echo "==> installing system packages: $${missing[*]}"
	  $(SUDO) env DEBIAN_FRONTEND=noninteractive apt-get update
	  $(SUDO) env DEBIAN_FRONTEND=noninteractive apt-get install -y "$${missing[@]}"
	fi
	# The binaries as AWS and compose deploy them (no embedded SQLite: they talk to MariaDB);
	# the argon2 example apart, since examples bring the dev-dependencies, whose features
	# would otherwise unify into every binary of the same build.
	echo "==> $(RELEASE_BUILD); cargo build --release -p shared --examples"
	$(RELEASE_BUILD)
	cargo build --release -p shared --examples
	echo "==> python -m local.bench under local/harness.py, writing $${BENCH_OUT:-target/bench}/"
	CARGO_LAMBDA=$(VENV)/bin/cargo-lambda $(VENV)/bin/python local/harness.py -- $(VENV)/bin/python -m local.bench

# The same run (build included, every section, the same rows and goal rows) at reduced
# durations and sizes: a regression guard of under 2 minutes after the build. It writes to
# target/bench-quick/, never over the full run's target/bench/, and exits 0 whatever the goal
# rows say (they say met / missed). The settings reach `bench`'s recipe as exported
# target-specific variables.
bench-quick: export BENCH_OUT := target/bench-quick
bench-quick: export BENCH_WRK_SECONDS := 1
bench-quick: export BENCH_WRK_RUNS := 1
bench-quick: export BENCH_WRK_WARMUP := 0
bench-quick: export BENCH_WRK_LOGIN_SECONDS := 1
bench-quick: export BENCH_COLD_RUNS := 3
bench-quick: export BENCH_EMAILS := 500
bench-quick: export BENCH_ALONE_SAMPLES := 500
bench-quick: bench

# A function as `make bench` builds it, but unstripped and with v0 symbol names (its own
# target directory), then local/size_copies.py: the code compiled more than once, by crate.
FUNCTION ?= form
size-copies: toolchain
	RUSTFLAGS="-C symbol-mangling-version=v0" CARGO_PROFILE_RELEASE_STRIP=none \
		CARGO_TARGET_DIR=target/size-copies cargo build --release --no-default-features -p $(FUNCTION)
	$(PYTHON) local/size_copies.py target/size-copies/release/$(FUNCTION)

# An earlier revision's release binaries beside this checkout's, in one run (the issue's
# "same run, old and new binaries"): OLD is checked out in a worktree under target/compare/
# and built there with its own target directory, then local/bench/compare.py runs the warm
# read rows of section c, its logins and its form posts against both, each under its own
# emulator, on one database.
COMPARE_DIR := target/compare
bench-compare: system-packages venv
	if [ -z "$(OLD)" ]; then echo "usage: make bench-compare OLD=<git revision>" >&2; exit 2; fi
	command -v wrk >/dev/null || { echo "wrk missing: make bench installs it" >&2; exit 2; }
	rm -rf $(COMPARE_DIR)/worktree
	git worktree prune
	git worktree add --detach --force $(COMPARE_DIR)/worktree "$(OLD)"
	trap 'git worktree remove --force $(COMPARE_DIR)/worktree' EXIT
	echo "==> building $(OLD) into $(COMPARE_DIR)/target, then this checkout"
	(cd $(COMPARE_DIR)/worktree && export CARGO_TARGET_DIR=$(CURDIR)/$(COMPARE_DIR)/target && $(RELEASE_BUILD))
	$(RELEASE_BUILD)
	$(VENV)/bin/python local/harness.py -- $(VENV)/bin/python -m local.bench.compare $(COMPARE_DIR)/target/release
