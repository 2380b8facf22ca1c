# Two entry points: `make repro` (the whole pipeline) and `make test` (the test suite).
# Both create the virtual environment on first use and reuse it afterwards.
PYTHON ?= python3
# The default environment (.venv) installs requirements.lock, the export of uv.lock for pip:
# every supported platform and Python in one file, pip takes the lines whose markers match
# (torch's CUDA build on Linux, the plain wheels on macOS). CPU=1 (`make CPU=1 repro`): a
# CPU-only environment in .venv-cpu from requirements-cpu.lock, with torch's CPU build from
# the PyTorch index (CPython 3.11 on Linux x86_64; docs/environment.md).
CPU ?=
VENV ?= $(if $(CPU),.venv-cpu,.venv)
LOCK := $(if $(CPU),requirements-cpu.lock,requirements.lock)
TORCH_INDEX ?= $(if $(CPU),https://download.pytorch.org/whl/cpu)
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-stamp

# Refuses, before anything is installed, a Python or a platform that the lock does not cover.
define CHECK_PLATFORM
import platform, sys
here = (sys.platform, platform.machine())
if sys.implementation.name != "cpython" or not (3, 10) <= sys.version_info[:2] <= (3, 14):
    sys.exit(f"CPython 3.10-3.14 needed (pyproject.toml); {sys.executable} is "
             f"{platform.python_implementation()} {platform.python_version()}: name another with PYTHON=python3.12")
if here not in {("linux", "x86_64"), ("linux", "aarch64"), ("darwin", "arm64")}:
    sys.exit(f"requirements.lock covers Linux x86_64 and aarch64 and macOS arm64, not {here[0]} {here[1]}")
if sys.argv[1:] == ["cpu"] and (here != ("linux", "x86_64") or sys.version_info[:2] != (3, 11)):
    sys.exit("make CPU=1: requirements-cpu.lock covers CPython 3.11 on Linux x86_64 only "
             "(docs/environment.md); plain `make` installs torch for this machine")
endef
export CHECK_PLATFORM

.PHONY: repro retrain test install bench gpu-wheels gpu-check clean-venv

install: $(STAMP)

# Exact versions with hashes from the lock (docs/environment.md), then the package itself
# without dependencies. The stamp names the lock, so a test can compare the two.
$(STAMP): pyproject.toml $(LOCK)
	@$(PYTHON) -c "$$CHECK_PLATFORM" $(if $(CPU),cpu)
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --disable-pip-version-check --require-hashes \
		$(if $(TORCH_INDEX),--extra-index-url $(TORCH_INDEX)) -r $(LOCK)
	$(BIN)/pip install --quiet --disable-pip-version-check --no-deps -e .
	echo $(LOCK) > $(STAMP)

repro: $(STAMP)
	PATH="$(CURDIR)/$(BIN):$$PATH" $(BIN)/dvc repro

# Retrain every run from scratch and rewrite the record: every stage forced, and an empty
# run store, so that no finished run is taken from data/runs.
retrain: $(STAMP)
	store=$$(mktemp -d) && AETASC_RUN_STORE=$$store PATH="$(CURDIR)/$(BIN):$$PATH" $(BIN)/dvc repro -f; \
		rc=$$?; rm -rf $$store; exit $$rc

test: $(STAMP)
	PATH="$(CURDIR)/$(BIN):$$PATH" $(BIN)/python -m pytest -q $(PYTEST_ARGS)

bench: $(STAMP)
	PATH="$(CURDIR)/$(BIN):$$PATH" $(BIN)/python -m tools.bench

# The GPU check on a CUDA machine without network access (docs/speed.md). Its Python needs
# torch, numpy, scipy, pyyaml, tqdm, pytest and scikit-learn; the
# other packages travel as wheels: `make gpu-wheels` here fetches them into wheels/ (for
# the GPU machine's Python, GPU_PYVER), and `make gpu-check` there installs them from it.
GPU_PYTHON ?= python3
GPU_PYVER ?= 3.12
GPU_OUT ?= gpu-check
GPU_WHEELS = pydantic==2.14.4 pydantic_core==2.50.5 annotated-types==0.8.0 typing-inspection==0.4.5 \
	soundfile==0.14.0 cffi==2.1.1 pycparser==3.12 soxr==1.1.0 \
	librosa==0.11.0 audioread==3.1.0 pooch==1.9.0 platformdirs==4.14.8 decorator==5.3.1 \
	ruamel.yaml==0.19.1

gpu-wheels: $(STAMP)
	$(BIN)/pip download --quiet --disable-pip-version-check --no-deps --only-binary=:all: \
		--python-version $(GPU_PYVER) --implementation cp --platform manylinux_2_28_x86_64 \
		--platform manylinux_2_27_x86_64 --platform manylinux_2_17_x86_64 \
		--platform manylinux2014_x86_64 -d wheels $(GPU_WHEELS)

gpu-check:
	if ls wheels/*.whl >/dev/null 2>&1; then $(GPU_PYTHON) -m pip install --quiet --no-index --no-deps \
		--no-compile --no-cache-dir --upgrade --target .gpu-site wheels/*.whl; fi
	PYTHONPATH="$(CURDIR)/.gpu-site:$(CURDIR)/src:$(CURDIR):$$PYTHONPATH" $(GPU_PYTHON) -m tools.gpu_check --out $(GPU_OUT) $(GPU_ARGS)

clean-venv:
	rm -rf $(VENV)
