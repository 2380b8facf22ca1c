"""What a run's numbers depend on, as digests: its code and its data.

A run in the store is identified by a fingerprint of its settings, the digest of the data
it trains and evaluates on (the per-row digests written at extraction, its targets and
class lists) and the digest of the code on the training path: the source of every module
of this package that the training module imports, directly or through others (read from
the import statements, so the list can never go stale), and the versions of the numerical
libraries that compute the step.
"""
from __future__ import annotations

import ast
import functools
import hashlib
import importlib.metadata
import json
from pathlib import Path

import numpy as np

PACKAGE = Path(__file__).resolve().parents[1]   # src/aetasc
LIBRARIES = ("torch", "numpy")


def digest(*parts) -> str:
    """A short, stable hash of JSON-able parts (numpy arrays by their bytes, dtype and shape)."""
    h = hashlib.sha256()
    for part in parts:
        if isinstance(part, np.ndarray):
            h.update(f"{part.dtype}{part.shape}".encode())
            h.update(np.ascontiguousarray(part).tobytes())
        else:
            h.update(json.dumps(part, sort_keys=True, default=str).encode())
        h.update(b"\0")
    return h.hexdigest()[:16]


def module_file(name: str) -> Path | None:
    """The source file of a module of this package, by dotted name relative to it."""
    base = PACKAGE.joinpath(*name.split(".")) if name else PACKAGE
    for candidate in (base.with_suffix(".py"), base / "__init__.py"):
        if candidate.is_file():
            return candidate
    return None


def _imports(path: Path) -> set[str]:
    """Modules of this package that a source file imports (relative or `aetasc.` names)."""
    # The package relative imports resolve against: a module's folder, and for an __init__.py
    # the package it initializes, which is its folder too (p/__init__.py and p/m.py: p).
    package = list(path.relative_to(PACKAGE).parts[:-1])
    found = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.ImportFrom):
            if node.level:      # one dot: that package; each further dot: one package up
                base = package[:len(package) - node.level + 1]
                prefix = ".".join(base + ([node.module] if node.module else []))
            elif node.module and (node.module == "aetasc" or node.module.startswith("aetasc.")):
                prefix = node.module.removeprefix("aetasc").lstrip(".")
            else:
                continue
            found.add(prefix)
            found.update(f"{prefix}.{a.name}".lstrip(".") for a in node.names)   # `from . import x`
        elif isinstance(node, ast.Import):
            found.update(a.name.removeprefix("aetasc").lstrip(".") for a in node.names
                         if a.name == "aetasc" or a.name.startswith("aetasc."))
    return {name for name in found if module_file(name) is not None}


def training_modules(root: str = "training.trainer") -> list[Path]:
    """The source files of `root` and of every package module it imports, transitively."""
    seen, todo = {}, [root]
    while todo:
        name = todo.pop()
        path = module_file(name)
        if path is None or path in seen.values():
            continue
        seen[name] = path
        todo.extend(_imports(path) - set(seen))
    return sorted(seen.values())


def library_versions() -> dict[str, str]:
    out = {}
    for name in LIBRARIES:
        try:
            out[name] = importlib.metadata.version(name)
        except importlib.metadata.PackageNotFoundError:
            out[name] = "absent"
    return out


@functools.cache
def code_digest(root: str = "training.trainer") -> str:
    """Digest of the training path's sources and the numerical libraries' versions."""
    sources = {str(p.relative_to(PACKAGE)): p.read_bytes().decode() for p in training_modules(root)}
    return digest(sources, library_versions())
