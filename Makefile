# The two commands of the README:
#   make run    set up, then start the district server, the sync agent and the kiosk UI in a window
#   make test   set up, then run every test (Xvfb, PostgreSQL and Chromium included)
#   make packages  the Debian packages hailong-kiosk and hailong-district into build/debs
#               (RELEASE=bookworm|trixie, ARCH=amd64|arm64; see packaging/README.md)
SHELL := /bin/bash
VENV  ?= .venv
PY    := $(VENV)/bin/python
APT_PACKAGES := xvfb xdotool x11-utils imagemagick e2fsprogs fdisk chromium chromium-driver libgl1 libgl1-mesa-dri \
	libegl1 libmtdev1 fonts-noto-core shellcheck systemd gettext postgresql \
	debootstrap systemd-container qemu-user-static binfmt-support fuse3 dpkg-dev libnss3-tools \
	poppler-utils zbar-tools \
	espeak-ng alsa-utils \
	libpango-1.0-0 libpangoft2-1.0-0 libreoffice-writer-nogui libreoffice-calc-nogui
RELEASE ?= bookworm
ARCH    ?= $(shell dpkg --print-architecture 2>/dev/null || echo amd64)

.PHONY: setup system-packages venv test run lint catalogs bench packages voice

setup: system-packages venv

# Debian packages the tests and the local run need; skipped when already present.
system-packages:
	@if command -v apt-get >/dev/null && [ "$$(id -u)" = 0 ]; then \
	  missing=$$(for p in $(APT_PACKAGES); do dpkg -s $$p >/dev/null 2>&1 || echo $$p; done); \
	  if [ -n "$$missing" ]; then \
	    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $$missing; \
	  fi; \
	fi

venv: $(VENV)/.installed
$(VENV)/.installed: setup.py
	python3 -m venv $(VENV)
	$(PY) -m pip install -q -U pip
	$(PY) -m pip install -q -e '.[dev]'
	touch $@

catalogs: venv
	$(PY) -m ballot.i18n compile

# The terminal's spoken prompts (kiosk/voice/prompts/<lang>/*.wav) with Debian's espeak-ng;
# a district's own recordings with the same names replace them ([voice] folder).
voice: venv
	$(PY) -m kiosk.voice.build

test: setup
	bash tests/start-services.sh
	$(PY) -m pytest -q -rs

lint: venv
	$(VENV)/bin/ruff check .

run: setup
	bash scripts/run-local.sh

packages: system-packages
	packaging/build-debs.sh --release $(RELEASE) --arch $(ARCH) --out build/debs
