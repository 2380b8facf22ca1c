"""The locked environments: uv.lock, its export requirements.lock, the CPU-only lock, and
what `make` installs from them.

uv.lock is the one resolution for every supported platform and Python; requirements.lock
is its export, which `make` installs with pip (markers pick each machine's lines);
requirements-cpu.lock is the same set on CPython 3.11 / Linux x86_64 with torch's CPU build.
"""
import importlib.metadata
import os
import re
import shutil
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
from packaging import tags
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name, parse_wheel_filename
from packaging.version import Version

try:
    import tomllib
except ModuleNotFoundError:                 # Python 3.10
    import tomli as tomllib

ROOT = Path(__file__).resolve().parent.parent
# Packages that only a CUDA build of torch pulls in.
CUDA_ONLY = re.compile(r"^(nvidia-|cuda-|triton$)")
PYTHONS = ["3.10", "3.11", "3.12", "3.13", "3.14"]
# (sys.platform, platform.machine()) -> uv's name of the platform. manylinux_2_28 is the
# oldest glibc torch's Linux wheels take; macOS 14 the oldest its macOS wheels take.
PLATFORMS = {("linux", "x86_64"): "x86_64-manylinux_2_28",
             ("linux", "aarch64"): "aarch64-manylinux_2_28",
             ("darwin", "arm64"): "aarch64-apple-darwin"}
# Packages with no wheel for some platform, installed from their sdist (pure Python).
SDIST_ONLY = {"antlr4-python3-runtime"}


def marker_env(python: str, platform: tuple[str, str]) -> dict[str, str]:
    system, machine = platform
    return {"implementation_name": "cpython", "platform_python_implementation": "CPython",
            "sys_platform": system, "platform_machine": machine, "python_version": python,
            "python_full_version": python + ".0", "os_name": "posix", "extra": "",
            "platform_system": {"linux": "Linux", "darwin": "Darwin"}[system]}


def pins(lock: str, env: dict[str, str] | None = None) -> dict[str, Version]:
    """name -> pinned version of every package of a lock whose marker holds in env (the
    running interpreter's without one); each must carry a hash."""
    out = {}
    for block in re.split(r"\n(?=[^\s#])", (ROOT / lock).read_text().strip()):
        block = "\n".join(line for line in block.splitlines() if not line.startswith("#"))
        if not block:
            continue
        req = Requirement(block.splitlines()[0].rstrip(" \\"))
        [spec] = req.specifier
        assert spec.operator == "==", f"{lock}: {req.name} is not pinned"
        assert "--hash=sha256:" in block, f"{lock}: {req.name} has no hash"
        if req.marker is None or req.marker.evaluate(env):
            name = canonicalize_name(req.name)
            assert name not in out, f"{lock}: {req.name} twice for {env}"
            out[name] = Version(spec.version)
    return out


def uv(*args: str, timeout: float = 120) -> subprocess.CompletedProcess:
    exe = shutil.which("uv", path=str(Path(sys.executable).parent)) or shutil.which("uv")
    if exe is None:
        pytest.skip("uv is not installed (it is in the test extra: pip install -e '.[test]')")
    return subprocess.run([exe, *args], cwd=ROOT, capture_output=True, text=True, timeout=timeout,
                          env={**os.environ, "MACOSX_DEPLOYMENT_TARGET": "14.0"})


def test_requirements_lock_is_the_export_of_uv_lock():
    # The export command is the file's own header: running it again must give the file.
    header = (ROOT / "requirements.lock").read_text().splitlines()[1]
    command = header.lstrip("# ").split()
    assert command[:2] == ["uv", "export"] and "--frozen" in command, header
    out = uv(*[a for a in command[1:] if a not in ("-o", "requirements.lock")], "--no-header")
    assert out.returncode == 0, out.stderr
    body = [line for line in (ROOT / "requirements.lock").read_text().splitlines() if not line.startswith("#")]
    assert out.stdout.splitlines() == body, "requirements.lock is stale: rerun its header's command"


@pytest.mark.slow
def test_uv_lock_is_current_with_pyproject():
    # Re-resolves against the registry for every platform of [tool.uv] environments and
    # every Python of requires-python; fails when pyproject.toml asks for what the lock lacks.
    out = uv("lock", "--check")
    assert out.returncode == 0, out.stderr


@pytest.mark.slow
def test_the_lock_resolves_on_every_platform_and_python():
    # uv's resolver, for one platform and Python at a time, takes the exported pins and finds
    # each version, with a distribution for that platform, on the registry; the set it
    # resolves must be the set pip installs there (nothing missing, nothing added).
    def resolve(case):
        platform, python = case
        return case, uv("pip", "compile", "requirements.lock", "--python-platform", PLATFORMS[platform],
                        "--python-version", python, "--no-header", "--no-annotate", "--quiet", timeout=300)
    cases = [(platform, python) for platform in PLATFORMS for python in PYTHONS]
    with ThreadPoolExecutor(max_workers=8) as pool:
        for (platform, python), out in pool.map(resolve, cases):
            assert out.returncode == 0, f"{platform} / Python {python}: {out.stderr}"
            resolved = {canonicalize_name(r.name): Version(next(iter(r.specifier)).version)
                        for r in map(Requirement, re.findall(r"^\S+==\S+", out.stdout, re.M))}
            assert resolved == pins("requirements.lock", marker_env(python, platform)), (platform, python)


def target_tags(python: str, platform: tuple[str, str]) -> set[tags.Tag]:
    version = tuple(int(part) for part in python.split("."))
    system, machine = platform
    if system == "linux":
        names = [f"manylinux_2_{minor}_{machine}" for minor in range(28, 4, -1)]
        names += [f"manylinux2014_{machine}", f"linux_{machine}"]
        names += ["manylinux2010_x86_64", "manylinux1_x86_64"] if machine == "x86_64" else []
    else:
        names = list(tags.mac_platforms((14, 0), "arm64"))
    interpreter = f"cp{version[0]}{version[1]}"
    return set(tags.cpython_tags(version, platforms=names)) | set(tags.compatible_tags(version, interpreter, names))


@pytest.mark.parametrize("platform", list(PLATFORMS), ids="-".join)
@pytest.mark.parametrize("python", PYTHONS)
def test_every_package_has_a_wheel_for_every_platform_and_python(python, platform):
    # Read off uv.lock's list of files with packaging's tag rules, independently of uv.
    lock = tomllib.loads((ROOT / "uv.lock").read_text())
    files = {(canonicalize_name(p["name"]), Version(p["version"])): p for p in lock["package"]}
    wanted = target_tags(python, platform)
    sdist_only = set()
    for name, version in pins("requirements.lock", marker_env(python, platform)).items():
        entry = files[(name, version)]
        wheels = [parse_wheel_filename(w["url"].rsplit("/", 1)[1])[3] for w in entry.get("wheels", [])]
        if not any(wanted & wheel_tags for wheel_tags in wheels):
            assert "sdist" in entry, f"{name} {version}: no wheel and no sdist for {platform} / {python}"
            sdist_only.add(name)
    # A new package built from source on install (perhaps needing a compiler) shows up here.
    assert sdist_only == SDIST_ONLY


def test_torch_is_the_recorded_build_on_every_platform():
    # The committed record was trained with torch 2.14.1 (CUDA build, Linux x86_64, Python
    # 3.11): the lock keeps that release for every platform and Python.
    for platform in PLATFORMS:
        for python in PYTHONS:
            locked = pins("requirements.lock", marker_env(python, platform))
            assert locked["torch"] == Version("2.14.1")
            cuda = sorted(name for name in locked if CUDA_ONLY.match(name))
            assert bool(cuda) == (platform[0] == "linux"), (platform, python, cuda)


def test_the_cpu_lock_differs_from_the_default_only_in_torch():
    default = pins("requirements.lock", marker_env("3.11", ("linux", "x86_64")))
    cpu = pins("requirements-cpu.lock")
    assert cpu["torch"].local == "cpu" and default["torch"].local is None
    assert not [name for name in cpu if CUDA_ONLY.match(name)]
    shared = {name: v for name, v in default.items() if not CUDA_ONLY.match(name) and name != "torch"}
    assert {name: cpu.get(name) for name in shared} == shared
    assert set(cpu) - set(shared) == {"torch"}


def test_every_python_of_requires_python_is_locked():
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    lock = tomllib.loads((ROOT / "uv.lock").read_text())
    assert lock["requires-python"].replace(" ", "") == project["requires-python"].replace(" ", "")
    from packaging.specifiers import SpecifierSet
    allowed = SpecifierSet(project["requires-python"])
    assert [p for p in PYTHONS if p in allowed] == PYTHONS and "3.9" not in allowed and "3.15" not in allowed


def test_the_locks_satisfy_pyproject():
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    wanted = [Requirement(r) for r in project["dependencies"] + project["optional-dependencies"]["test"]]
    locks = [("requirements-cpu.lock", None)] + [
        ("requirements.lock", marker_env(python, platform)) for platform in PLATFORMS for python in PYTHONS]
    for lock, env in locks:
        locked = pins(lock, env)
        for req in wanted:
            version = locked.get(canonicalize_name(req.name))
            assert version is not None, f"{lock} lacks {req.name} for {env}"
            assert req.specifier.contains(version, prereleases=True), f"{lock}: {req.name} {version} not {req.specifier}"


def test_this_environment_is_its_lock_exactly():
    # What `make` installed here (CI: CPython 3.11 on Linux x86_64, requirements.lock) is
    # the lock's set for this machine, version for version.
    stamp = Path(sys.prefix) / ".installed-stamp"
    if not stamp.is_file():
        pytest.skip(f"{sys.prefix} was not installed by make")
    lock = stamp.read_text().strip()
    if not lock:
        pytest.skip(f"{stamp} predates the stamp naming its lock: `make install` refreshes it")
    assert lock in ("requirements.lock", "requirements-cpu.lock"), f"{stamp}: {lock!r}"
    installed = {canonicalize_name(d.metadata["Name"]): Version(d.version) for d in importlib.metadata.distributions()}
    expected = pins(lock)
    assert {name: installed.get(name) for name in expected} == expected
    extra = set(installed) - set(expected) - {"aetasc", "pip", "setuptools", "wheel"}
    assert not extra, f"installed but not in {lock}: {sorted(extra)}"


def test_make_picks_the_lock_and_refuses_what_it_does_not_cover():
    # Under `make CPU=1 test` the outer make's variables reach this one through the
    # environment: start from the Makefile's defaults.
    outer = {"MAKEFLAGS", "MFLAGS", "MAKELEVEL", "CPU", "VENV", "TORCH_INDEX", "PYTHON"}
    env = {k: v for k, v in os.environ.items() if k not in outer}

    def plan(*args):     # what `make install` would run, installed or not
        return subprocess.run(["make", "-n", "-B", "install", *args], cwd=ROOT, env=env,
                              capture_output=True, text=True, check=True).stdout
    default, cpu = plan(), plan("CPU=1")
    assert "-r requirements.lock" in default and "--extra-index-url" not in default
    assert "-r requirements-cpu.lock" in cpu and ".venv-cpu/bin/pip install" in cpu
    assert "--extra-index-url https://download.pytorch.org/whl/cpu" in cpu

    # The check that make runs first, on this interpreter, as another version would see it.
    check = subprocess.run(["make", "-s", "-f", "-", "print"], cwd=ROOT, capture_output=True, text=True,
                           check=True, env=env, input="include Makefile\nprint: ; @printf '%s' \"$$CHECK_PLATFORM\"\n").stdout

    def refusal(version, system, machine, *args):
        code = (f"import sys, platform; sys.version_info = {version}; sys.platform = {system!r}; "
                f"platform.machine = lambda: {machine!r}\n" + check)
        out = subprocess.run([sys.executable, "-c", code, *args], capture_output=True, text=True)
        return out.stderr.strip() if out.returncode else ""
    assert refusal((3, 11, 0), "linux", "x86_64") == ""
    assert refusal((3, 14, 0), "darwin", "arm64") == ""
    assert refusal((3, 10, 0), "linux", "aarch64") == ""
    assert refusal((3, 11, 0), "linux", "x86_64", "cpu") == ""
    assert "CPython 3.10-3.14 needed" in refusal((3, 15, 0), "linux", "x86_64")
    assert "CPython 3.10-3.14 needed" in refusal((3, 9, 18), "linux", "x86_64")
    assert "not darwin x86_64" in refusal((3, 12, 0), "darwin", "x86_64")
    assert "not win32 AMD64" in refusal((3, 12, 0), "win32", "AMD64")
    assert "covers CPython 3.11 on Linux x86_64 only" in refusal((3, 12, 0), "linux", "x86_64", "cpu")
    assert "covers CPython 3.11 on Linux x86_64 only" in refusal((3, 11, 0), "darwin", "arm64", "cpu")
