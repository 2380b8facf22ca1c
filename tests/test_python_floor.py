"""The code runs on the oldest Python that pyproject.toml promises, checked statically.

CI runs one Python (3.11), so a 3.11+ call (hashlib.file_digest, tomllib, typing.Self)
passes every other test there and breaks only on 3.10. vermin (in the test extra) reads
every file of src/, stages/ and tools/ and names each feature newer than the floor.
"""
import importlib.util
import re
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
CHECKED = ["src", "stages", "tools"]


def floor() -> str:
    """The lowest Python of requires-python ("3.10" for ">=3.10,<3.15")."""
    text = (ROOT / "pyproject.toml").read_text()
    return re.search(r'^requires-python\s*=\s*"[^"]*>=\s*(3\.\d+)', text, re.M).group(1)


def vermin(*paths: str) -> subprocess.CompletedProcess:
    assert importlib.util.find_spec("vermin") is not None, \
        "vermin is not installed: it is in the test extra (the locks; pip install -e '.[test]')"
    # --eval-annotations: pydantic evaluates the models' annotations at run time, so they
    # count even under `from __future__ import annotations`.
    args = [f"-t={floor()}-", "--no-tips", "--violations", "--eval-annotations", *paths]
    return subprocess.run([sys.executable, "-c", "import sys; from vermin import main; sys.exit(main())", *args],
                          cwd=ROOT, capture_output=True, text=True, timeout=300)


def test_nothing_newer_than_the_oldest_supported_python():
    out = vermin(*CHECKED)
    assert out.returncode == 0, f"features newer than Python {floor()}:\n{out.stdout}{out.stderr}"


def test_the_check_sees_a_newer_feature(tmp_path):
    # The check above must be able to fail: the 3.11 call this project once used.
    (tmp_path / "new.py").write_text("import hashlib\n\nwith open(__file__, 'rb') as f:\n"
                                     "    hashlib.file_digest(f, 'sha256')\n")
    out = vermin(str(tmp_path / "new.py"))
    assert out.returncode != 0 and "hashlib.file_digest" in out.stdout, out.stdout + out.stderr
