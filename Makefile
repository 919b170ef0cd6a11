# Everything a fresh machine needs comes from here: the venv, the package, the test extras.
PY ?= python3
VENV := .venv
BIN := $(VENV)/bin
DEMO := etc/pyinetd.demo.conf

# Real servers and clients the integration tests run pyinetd with (Debian packages).
TOOL_PACKAGES := tftpd-hpa tftp-hpa curl socat git rsync finger fingerd busybox
TOOL_FILES := /usr/sbin/in.tftpd /usr/bin/tftp /usr/bin/curl /usr/bin/socat /usr/bin/git \
	/usr/bin/rsync /usr/bin/finger /usr/sbin/in.fingerd /bin/busybox

.PHONY: run test lint tools bench clean

$(BIN)/pyinetd: pyproject.toml
	$(PY) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q -e .
	touch $@

$(VENV)/.test-extras: pyproject.toml $(BIN)/pyinetd
	$(BIN)/pip install -q -e '.[test]'
	touch $@

run: $(BIN)/pyinetd
	$(BIN)/pyinetd -d $(DEMO)

lint: $(VENV)/.test-extras
	$(BIN)/ruff check src tests $(wildcard bench)
	$(BIN)/mypy src

# As root with apt, install what is missing (without letting a package start a daemon);
# elsewhere the tests that need a missing tool skip and say so.
tools:
	@missing=""; for f in $(TOOL_FILES); do [ -e $$f ] || missing="$$missing $$f"; done; \
	if [ -z "$$missing" ]; then exit 0; fi; \
	if [ "$$(id -u)" != 0 ] || ! command -v apt-get >/dev/null; then \
		echo "missing:$$missing (tests that need them will skip)"; exit 0; fi; \
	guard=""; if [ ! -e /usr/sbin/policy-rc.d ]; then \
		printf '#!/bin/sh\nexit 101\n' > /usr/sbin/policy-rc.d; \
		chmod +x /usr/sbin/policy-rc.d; guard=1; fi; \
	{ apt-get update -qq && DEBIAN_FRONTEND=noninteractive \
		apt-get install -y -qq --no-install-recommends $(TOOL_PACKAGES) >/dev/null; } \
		|| echo "apt-get failed: tests that need$$missing will skip"; \
	[ -z "$$guard" ] || rm -f /usr/sbin/policy-rc.d

test: lint tools
	$(BIN)/pytest -q

bench: $(BIN)/pyinetd
	$(BIN)/python bench/run.py

clean:
	rm -rf $(VENV) build src/*.egg-info
