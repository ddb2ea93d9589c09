# fpstation — the two set-up commands of the README are `make run` and `make test`.
# Both bootstrap everything on a fresh Debian machine: system libraries Qt needs, a virtual
# environment in .venv, and `pip install -e ".[dev]"`. Re-running skips what is already done.

PYTHON ?= python3
VENV   ?= .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.fpstation-installed
SYSSTAMP := .sysdeps-installed

# Libraries PySide6 loads even offscreen, plus Xvfb and the xcb plugins for a real window.
QT_DEBS := libgl1 libegl1 libfontconfig1 libxkbcommon0 libxkbcommon-x11-0 libdbus-1-3 libglib2.0-0 \
           libxcb-cursor0 libxcb-icccm4 libxcb-keysyms1 libxcb-image0 libxcb-render-util0 \
           libxcb-shape0 libxcb-xinerama0 libxcb-randr0 xvfb xauth

.PHONY: run test lint bundle bundle-smoke bench sysdeps venv clean

sysdeps: $(SYSSTAMP)
$(SYSSTAMP):
	@missing=""; for p in $(QT_DEBS); do dpkg -s $$p >/dev/null 2>&1 || missing="$$missing $$p"; done; \
	if [ -n "$$missing" ]; then \
	  if [ "$$(id -u)" = "0" ] && command -v apt-get >/dev/null; then \
	    echo "installing system packages:$$missing"; \
	    (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $$missing >/dev/null) \
	      || { echo "apt-get failed"; exit 1; }; \
	  else echo "please install:$$missing (needs root)"; fi; \
	fi; touch $(SYSSTAMP)

venv: $(STAMP)
$(STAMP): pyproject.toml | $(SYSSTAMP)
	[ -x $(PY) ] || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -e ".[dev]"
	touch $(STAMP)

## Set up and launch the workstation (uses Xvfb automatically when there is no display).
run: $(STAMP)
	@if [ -n "$$DISPLAY$$WAYLAND_DISPLAY" ]; then $(PY) main.py; \
	else echo "No display found: starting under Xvfb (xvfb-run)."; xvfb-run -a $(PY) main.py; fi

## Set up and run the whole test suite (offscreen Qt), the architecture contracts and ruff.
test: $(STAMP)
	$(VENV)/bin/lint-imports
	$(VENV)/bin/ruff check fpstation tests training bench
	QT_QPA_PLATFORM=offscreen $(PY) -m pytest -q

## Build the one-dir PyInstaller bundle $(BUNDLE_DIST)/fpstation/ from build.spec (GUI `fpstation` +
## console `fpstation-cli`). --clean: every build starts from scratch, as in CI.
BUNDLE_DIST ?= dist
bundle: $(STAMP)
	nice -n 10 $(VENV)/bin/pyinstaller --noconfirm --clean --log-level WARN \
	  --distpath $(BUNDLE_DIST) --workpath build/pyinstaller build.spec

## Smoke-test the BUILT bundle (not the source tree): clean env, cwd outside the checkout,
## `fpstation-cli selftest` must pass and run from the bundle; `analyze` a sample; GUI shows a window.
bundle-smoke: $(STAMP)
	FPSTATION_REQUIRE_BUNDLE=1 FPSTATION_BUNDLE_DIR=$(abspath $(BUNDLE_DIST))/fpstation \
	  $(PY) -m pytest -v -rP -p no:cacheprovider tests/packaging/test_bundle.py

lint: $(STAMP)
	$(VENV)/bin/lint-imports
	$(VENV)/bin/ruff check fpstation tests training bench

clean:
	rm -rf $(VENV) $(SYSSTAMP) build dist
