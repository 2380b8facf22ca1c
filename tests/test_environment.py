"""The two locked environments: the default one and the CPU-only one must differ only in torch."""
import os
import re
import subprocess
from pathlib import Path

import pytest
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name
from packaging.version import Version

ROOT = Path(__file__).resolve().parent.parent
# Packages that only a CUDA build of torch pulls in.
CUDA_ONLY = re.compile(r"^(nvidia-|cuda-|triton$)")


def pins(lock: str) -> dict[str, Version]:
    """name -> pinned version of every package of a lock; each must carry a hash."""
    text = (ROOT / lock).read_text()
    blocks = re.split(r"\n(?=\S)", text.strip())
    out = {}
    for block in blocks:
        m = re.match(r"([A-Za-z0-9._-]+)==(\S+)", block)
        assert m, f"{lock}: not a pinned requirement: {block.splitlines()[0]!r}"
        assert "--hash=sha256:" in block, f"{lock}: {m[1]} has no hash"
        out[canonicalize_name(m[1])] = Version(m[2])
    return out


def test_the_cpu_lock_differs_from_the_default_only_in_torch():
    default, cpu = pins("requirements.lock"), pins("requirements-cpu.lock")
    assert cpu["torch"].local == "cpu" and default["torch"].local is None
    assert not [name for name in cpu if CUDA_ONLY.match(name)]
    shared = {name: v for name, v in default.items() if not CUDA_ONLY.match(name) and name != "torch"}
    assert {name: cpu.get(name) for name in shared} == shared
    assert set(cpu) - set(shared) == {"torch"}


def test_both_locks_satisfy_pyproject():
    tomllib = pytest.importorskip("tomllib")        # Python 3.11+
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    wanted = [Requirement(r) for r in project["dependencies"] + project["optional-dependencies"]["test"]]
    for lock in ("requirements.lock", "requirements-cpu.lock"):
        locked = pins(lock)
        for req in wanted:
            version = locked.get(canonicalize_name(req.name))
            assert version is not None, f"{lock} lacks {req.name}"
            assert req.specifier.contains(version, prereleases=True), f"{lock}: {req.name} {version} not {req.specifier}"


def test_make_installs_the_cpu_lock_into_its_own_environment():
    # Under `make CPU=1 test` the outer make's variables reach this one through the
    # environment: start from the Makefile's defaults.
    outer = {"MAKEFLAGS", "MFLAGS", "MAKELEVEL", "CPU", "VENV", "TORCH_INDEX"}
    env = {k: v for k, v in os.environ.items() if k not in outer}

    def plan(*args):     # what `make install` would run, installed or not
        return subprocess.run(["make", "-n", "-B", "install", *args], cwd=ROOT, env=env,
                              capture_output=True, text=True, check=True).stdout
    default, cpu = plan(), plan("CPU=1")
    assert "-r requirements.lock" in default and "--extra-index-url" not in default
    assert "-r requirements-cpu.lock" in cpu and ".venv-cpu/bin/pip install" in cpu
    assert "--extra-index-url https://download.pytorch.org/whl/cpu" in cpu
