"""Shared fixtures: a shrunk configuration so the whole suite runs in minutes on 2 cores."""
from __future__ import annotations

import copy
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import torch
import yaml

from aetasc.config import parse_params

REPO = Path(__file__).resolve().parents[1]
# Tests keep their runs in their own folders, whatever store the shell points to.
os.environ.pop("AETASC_RUN_STORE", None)

# A world of a few dozen one-second clips at 8 kHz, a narrow net and two epochs.
TINY_GENERATOR = {
    "sample_rate": 8000, "clip_seconds": 1.0, "scenes": 3, "cities": 3,
    "locations_per_city": 1, "segments_per_location": 6, "evaluate_cities": 1,
    "events": 8, "scene_events": 4, "events_per_scene": 2,
    "balanced_clips_per_class": 6, "eval_clips_per_class": 4, "unbalanced_clips": 80,
}
TINY_FEATURES = {"sample_rate": 8000, "clip_seconds": 1.0, "n_fft": 256, "win_length": 256,
                 "hop_length": 256, "n_mels": 32, "fmin": 50.0, "fmax": 4000.0}


def tiny_raw_params() -> dict:
    """params.yaml with the synthetic world shrunk to test size."""
    raw = yaml.safe_load((REPO / "params.yaml").read_text())
    raw = copy.deepcopy(raw)
    raw["batch"] = {"asc": 8, "aet": 16}
    world = raw["worlds"]["synthetic"]
    world["seeds"] = [0, 1]
    world["epochs"] = 4
    world["convergence"] = {"tolerance": 0.01, "study_epochs": [2, 4], "study_seeds": 2}
    world["model"]["width"] = 4
    world["source"].update(TINY_GENERATOR)
    world["features"].update(TINY_FEATURES)
    world["ranking"]["tagger_epochs"] = 2
    figures = world["figures"]
    figures["fig2"].update(k=3, hours=0.005, alphas=[0.0, 0.5, 1.0])
    figures["fig3a"].update(k=3, hours=0.005)
    figures["fig3b"].update(k=3, hours=[0.0025, 0.005])
    figures["fig4"].update(hours=0.005, ks=[2, 3])
    figures["fig5"].update(k=3, hours=0.005)
    figures["regularizers"].update(k=3, hours=0.005)
    figures["sec41"].update(k=3, hours=[0.005], alphas=[0.9])
    return raw


@pytest.fixture
def raw_params() -> dict:
    return tiny_raw_params()


@pytest.fixture
def tiny_params():
    return parse_params(tiny_raw_params())


@pytest.fixture
def write_params(tmp_path):
    """Write a params mapping to a file and return its path."""
    def write(raw: dict, name: str = "params.yaml") -> Path:
        path = tmp_path / name
        path.write_text(yaml.safe_dump(raw, sort_keys=False))
        return path
    return write


@pytest.fixture(autouse=True)
def _few_threads():
    # Tests run side by side with other work on small machines; two threads are plenty.
    torch.set_num_threads(2)


def pytest_collection_modifyitems(config, items):
    if torch.cuda.is_available():
        return
    skip = pytest.mark.skip(reason="needs a CUDA device")
    for item in items:
        if "gpu" in item.keywords:
            item.add_marker(skip)


def run_stage(cwd: Path, script: str, *args: str) -> str:
    """Run a stage script as DVC would (from a working folder); its output, or a failure."""
    proc = subprocess.run([sys.executable, str(REPO / "stages" / script), *args], cwd=cwd,
                          capture_output=True, text=True)
    if proc.returncode != 0:
        pytest.fail(f"stages/{script} {' '.join(args)} failed ({proc.returncode}):\n{proc.stderr[-4000:]}")
    return proc.stdout


@pytest.fixture(scope="session")
def tiny_pipeline(tmp_path_factory) -> Path:
    """A working folder holding the tiny world up to its features and subsets (no training).

    Tests that train read from it but must write their runs and metrics elsewhere (the
    stages' --runs and --metrics), since the folder is shared by the whole session.
    """
    root = tmp_path_factory.mktemp("pipeline")
    (root / "params.yaml").write_text(yaml.safe_dump(tiny_raw_params(), sort_keys=False))
    for script, *args in [("acquire_asc.py",), ("acquire_aet.py",),
                          ("extract_features.py", "--set", "asc"),
                          ("extract_features.py", "--set", "ranking_pool"),
                          ("rank_events.py",), ("make_subsets.py",),
                          ("extract_features.py", "--set", "aet_subsets")]:
        run_stage(root, script, *args)
    return root


# ------------------------------------------------------------------ DVC on the tiny world

def run_cmd(cmd, cwd, env) -> str:
    proc = subprocess.run(cmd, cwd=cwd, env=env, capture_output=True, text=True)
    if proc.returncode != 0:
        pytest.fail(f"{' '.join(map(str, cmd))} failed ({proc.returncode}):\n"
                    f"{proc.stdout[-3000:]}\n{proc.stderr[-3000:]}")
    return proc.stdout + proc.stderr


DVC_ENV = {**os.environ, "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}",
           "GIT_AUTHOR_NAME": "t", "GIT_AUTHOR_EMAIL": "t@t", "GIT_COMMITTER_NAME": "t",
           "GIT_COMMITTER_EMAIL": "t@t"}
DVC = str(Path(sys.executable).parent / "dvc")


@pytest.fixture(scope="session")
def dvc_repo_pristine(tmp_path_factory):
    """A DVC project holding this pipeline with the tiny params, after `dvc repro` (committed).
    Tests work on copies of it (`dvc_repo`), never on it."""
    root = tmp_path_factory.mktemp("repo")
    for name in ("dvc.yaml", "stages", "src"):
        src = REPO / name
        (shutil.copytree if src.is_dir() else shutil.copy)(src, root / name)
    (root / "params.yaml").write_text(yaml.safe_dump(tiny_raw_params(), sort_keys=False))
    (root / ".gitignore").write_text("/data/\n__pycache__/\n")
    for cmd in (["git", "init", "-q"], [DVC, "init", "-q"], [DVC, "config", "core.analytics", "false"]):
        run_cmd(cmd, root, DVC_ENV)
    shutil.copytree(REPO / ".dvc" / "plots", root / ".dvc" / "plots")     # the plot templates
    out = run_cmd([DVC, "repro"], root, DVC_ENV)
    run_cmd(["git", "add", "-A"], root, DVC_ENV)
    run_cmd(["git", "commit", "-qm", "repro"], root, DVC_ENV)
    return root, out


@pytest.fixture
def dvc_repo(dvc_repo_pristine, tmp_path):
    """A private copy of the reproduced tiny project (data, run store and DVC cache included)."""
    root = tmp_path / "repo"
    shutil.copytree(dvc_repo_pristine[0], root, symlinks=True)
    return root
