"""What a run's numbers depend on, as digests: its code and its data.

A run in the store is identified by a fingerprint of its settings, the digest of the data
it trains and evaluates on (the per-row digests written at extraction, its targets and
class lists), the digest of the code on the training path and the machine that computes
the step. The code is every module of this package that the training module imports,
directly or through others (read from the import statements, so the list can never go
stale), taken by its meaning: the syntax tree without docstrings, comments or layout, so
that a reworded comment retrains nothing. With it go the versions of the numerical
libraries and, on the CPU, the instruction set torch dispatches to and its thread count:
reductions split over another number of threads, or vectorized for another instruction set,
round differently.
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


def _package_imports(tree: ast.AST, path: Path):
    """(statement, modules of this package it imports) for each import statement of a parsed
    source that imports any (relative or `aetasc.` names)."""
    # The package relative imports resolve against: a module's folder, and for an __init__.py
    # the package it initializes, which is its folder too (p/__init__.py and p/m.py: p).
    package = list(path.relative_to(PACKAGE).parts[:-1])
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom):
            if node.level:      # one dot: that package; each further dot: one package up
                base = package[:len(package) - node.level + 1]
                prefix = ".".join(base + ([node.module] if node.module else []))
            elif node.module and (node.module == "aetasc" or node.module.startswith("aetasc.")):
                prefix = node.module.removeprefix("aetasc").lstrip(".")
            else:
                continue
            # `from . import x` imports the module x
            names = {prefix} | {f"{prefix}.{a.name}".lstrip(".") for a in node.names}
        elif isinstance(node, ast.Import):
            names = {a.name.removeprefix("aetasc").lstrip(".") for a in node.names
                     if a.name == "aetasc" or a.name.startswith("aetasc.")}
        else:
            continue
        found = {name for name in names if module_file(name) is not None}
        if found:
            yield node, found


def _imports(path: Path) -> set[str]:
    """Modules of this package that a source file imports."""
    return set().union(*(found for _, found in _package_imports(ast.parse(path.read_bytes(), str(path)), path)))


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


def _without_docstrings(tree: ast.AST) -> ast.AST:
    for node in ast.walk(tree):
        if isinstance(node, (ast.Module, ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef)):
            body = node.body
            if body and isinstance(body[0], ast.Expr) and isinstance(body[0].value, ast.Constant) \
                    and isinstance(body[0].value.value, str):
                node.body = body[1:] or [ast.Pass()]
    return tree


def _content_key(path: Path) -> str:
    """A module's code without its docstrings and without its imports of this package: what
    stays the same when a module is moved and the modules it imports are moved."""
    tree = _without_docstrings(ast.parse(path.read_bytes(), str(path)))
    for node, _ in list(_package_imports(tree, path)):
        node.names, node.module, node.level = [ast.alias("_")], None, 0
    return hashlib.sha256(ast.dump(tree).encode()).hexdigest()[:16]


def code_meaning(path: Path) -> str:
    """A module's syntax tree without its docstrings, as text, each import of this package
    naming the content of the module it imports rather than its place: equal for two sources
    that differ only in comments, docstrings, layout or where their modules lie."""
    tree = _without_docstrings(ast.parse(path.read_bytes(), str(path)))
    for node, found in list(_package_imports(tree, path)):
        modules = "+".join(sorted(_content_key(module_file(name)) for name in found))
        if isinstance(node, ast.ImportFrom):
            node.module, node.level = modules, 0
        else:
            node.names = [ast.alias(modules, a.asname) for a in node.names]
    return ast.dump(tree)            # no line or column numbers: positions do not count


@functools.cache
def code_digest(root: str = "training.trainer") -> str:
    """Digest of the training path's code, by meaning (code_meaning), and the numerical
    libraries' versions."""
    return digest(sorted(code_meaning(p) for p in training_modules(root)), library_versions())


def cpu_capability() -> str:
    """The instruction set torch dispatches its CPU kernels to (e.g. AVX512): with the thread
    count (RunSpec.threads), what of the machine a CPU run's numbers depend on."""
    import torch
    return torch.backends.cpu.get_cpu_capability()
