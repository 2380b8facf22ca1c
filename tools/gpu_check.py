"""The GPU check: what this project needs to know from a CUDA machine, in one command.

    python -m tools.gpu_check --out gpu-check            # on a GPU machine (no network needed)
    python -m tools.gpu_check --dry-run --out /tmp/gc    # anywhere: the same parts, tiny, on the CPU

Its parts run in this order, each in its own process, within one time budget (`--budget`,
default 540 s; `--parts` picks some, e.g. `--parts fullrun` alone):

1. fullrun   one whole joint run at the paper's shapes (60 epochs of 95 steps, per-epoch
             evaluation and checkpoints, the final evaluation) through train_run and a run
             store, on fabricated features of the paper's size in host memory (61,200 AET
             clips, 18 GB in all); its wall time and peak memory against aetasc.planning.cost's
             projection of that run at the benchmark's timings (fullrun.json). First: it is
             the part never measured before, and the longest (about 4.5 minutes on an H100);
2. bench     python -m tools.bench at the paper's and the synthetic shapes with every lever
             (bench.json, bench.txt), and the paper world's cost at its timings
             (aetasc.planning.cost, cost.txt);
3. tests     the GPU tests: bf16 autocast, channels_last, host vs resident data, resume, the
             front end (gpu-tests.xml, with the measured differences as test properties);
4. candidates  ways to a faster step at the paper's shapes, each against the Trainer's
             step with its compile time counted (bench's --candidates: max-autotune, CUDA
             graphs over the compiled step, bf16 features, ASC-only runs sharing the GPU)
             and a torch.profiler table of the step's top kernels (candidates.json);
5. pipeline  the paper world's stages, at the paper's shapes (width 64, 128 x 1001 log-mels,
             64 + 128 clips per step), end to end on fabricated paper-format audio: acquire,
             extract, rank, subsets, the baselines and Fig. 3a, a few steps per run; each
             stage's time and peak GPU and host memory (pipeline.json).

It ends with one line per target, `met` / `NOT met` with the measured value, and writes
everything to `gpu_check.json` in `--out`. A part that fails or runs out of time is
recorded as such; the others still run. The dry run shrinks every size so that CI runs it
on two CPU cores in a few minutes, which keeps the check from rotting between GPU runs.
Every script, test and params file it runs is found from the repository root (REPO), never
from the working folder, and its children import this checkout's `aetasc` and `tools`.

One module over 500 lines because the parts are one job, run in one order within one
budget: each is a few dozen lines that start a child process (the bench, pytest, the stage
scripts, the full run as `--full-run`) and read back what it wrote, and all of them share
the Sizes, the Budget and the runner; the summary judges what they measured.
"""
from __future__ import annotations

import argparse
import copy
import datetime
import json
import os
import subprocess
import sys
import time
import xml.etree.ElementTree as ET
from dataclasses import dataclass
from pathlib import Path

import yaml

from tools.bench import TARGETS as BENCH_TARGETS
from tools.bench_trainer import JOINT_ALPHA
from aetasc.config import load_params, read_yaml
from aetasc.io import write_json
from aetasc.planning.cost import (ASC_TRAIN_CLIPS, GB, GPU_HOURS_TARGET, N_SCENES, STEP_GPU_GB, TUT_CLIPS,
                                  paper_world_cost, projection_lines, run_projection, target_line)

REPO = Path(__file__).resolve().parents[1]
TARGET_X_REALTIME = 1000.0        # feature extraction: decode + resample + front end
TARGET_CHECK_SECONDS = 9 * 60
TARGET_PROJECTION_ERROR = 0.10    # a whole run's wall time vs the planner's projection
CANDIDATE_ARGS = ("--shapes", "paper", "--no-levers", "--candidates", "cuda-graphs,bf16-input,asc-sharing,max-autotune",
                  "--profile", "10")

# pytest runs in REPO: these paths are relative to it
GPU_TESTS = ["tests/test_gpu.py", "tests/test_features.py::test_logmel_follows_its_input_to_the_gpu",
             "tests/test_bench.py::test_gpu_benchmark_measures_every_lever"]


@dataclass(frozen=True)
class Sizes:
    """How big each part runs: the real check, or the dry run."""
    device: str
    bench_args: tuple[str, ...]
    tests: tuple[str, ...]
    tut: dict              # fabricate_tut2018 keywords
    audioset: dict         # fabricate_audioset keywords
    hours: float           # T of the pipeline's event subsets
    shrink: dict           # params overrides beyond the figures
    full_run: dict         # the whole run: world whose shapes it takes, clips per set, epochs (None: params')


REAL = Sizes(
    device="cuda",
    bench_args=(),
    tests=tuple(GPU_TESTS),
    # 480 clips of 10 s at 48 kHz, 24-bit stereo (1.4 GB): 4,800 s of audio to extract
    tut=dict(scenes=10, train_cities=4, eval_cities=2, locations=2, segments=4),
    audioset=dict(classes=40, balanced_per_class=5, eval_per_class=3, unbalanced=400),
    hours=0.5,
    # the fewest epochs a budget allows (half of it split into pre-training and fine-tuning)
    shrink={"seeds": [0], "epochs": 4, "convergence": {"study_epochs": [2, 4], "study_seeds": 1}},
    # the paper's sets: TUT 2018 fold 1, 170 h of 10 s AET clips, about 60 validation clips per class
    full_run=dict(world="paper", asc_train=ASC_TRAIN_CLIPS, asc_eval=TUT_CLIPS - ASC_TRAIN_CLIPS,
                  aet_train=61_200, aet_val=2_100, epochs=None),
)
DRY = Sizes(
    device="cpu",
    bench_args=("--steps", "1", "--warmup", "1", "--repeats", "1", "--matmul-size", "256"),
    tests=("tests/test_gpu.py",),
    tut=dict(scenes=3, train_cities=2, eval_cities=1, locations=1, segments=4, seconds=1.0),
    audioset=dict(classes=8, balanced_per_class=4, eval_per_class=2, unbalanced=60, seconds=1.0),
    hours=0.005,
    shrink={"seeds": [0], "epochs": 4, "convergence": {"study_epochs": [2, 4], "study_seeds": 1},
            "model": {"width": 4},
            "features": {"sample_rate": 8000, "clip_seconds": 1.0, "n_fft": 256, "win_length": 256,
                         "hop_length": 256, "n_mels": 16, "fmin": 50.0, "fmax": 4000.0}},
    # at the synthetic world's shapes, which the dry run's bench times: its projection is checked too
    full_run=dict(world="synthetic", asc_train=128, asc_eval=40, aet_train=256, aet_val=40, epochs=2),
)


class Budget:
    """The seconds left for the check; a part may be capped to leave time for the next ones."""

    def __init__(self, seconds: float):
        self.deadline = time.monotonic() + seconds
        self.cap: float | None = None

    def left(self) -> float:
        left = self.deadline - time.monotonic()
        return left if self.cap is None else min(left, self.cap - time.monotonic())

    def capped(self, seconds: float, reserve: float) -> None:
        """The next part gets at most `seconds`, and leaves at least `reserve` to the rest."""
        self.cap = time.monotonic() + min(seconds, max(0.0, self.deadline - time.monotonic() - reserve))


def _env() -> dict:
    """Child processes import this checkout's package, installed or not, and its tools/ (a
    stage runs under `-m tools.probe` in the work folder, where `tools` is not on the path)."""
    return {"PYTHONUNBUFFERED": "1",
            "PYTHONPATH": os.pathsep.join(filter(None, [str(REPO / "src"), str(REPO), os.environ.get("PYTHONPATH")]))}


def _run(cmd: list[str], log: Path, budget: Budget, cwd: Path = REPO) -> dict:
    """Run a command with its output in `log`; killed when the budget runs out."""
    started = time.perf_counter()
    timeout = budget.left()
    if timeout <= 5:
        return {"status": "not run: out of time", "seconds": 0.0}
    with log.open("a") as out:
        out.write(f"$ {' '.join(cmd)}\n")
        out.flush()
        try:
            proc = subprocess.run(cmd, cwd=cwd, stdout=out, stderr=subprocess.STDOUT, timeout=timeout,
                                  env={**os.environ, **_env()})
            status = "ok" if proc.returncode == 0 else f"failed (exit {proc.returncode})"
        except subprocess.TimeoutExpired:
            status = "killed: out of time"
    return {"status": status, "seconds": time.perf_counter() - started}


def _tail(log: Path, lines: int = 15) -> str:
    return "\n".join(log.read_text(errors="replace").splitlines()[-lines:]) if log.is_file() else ""


# --------------------------------------------------------------------------- the parts

def run_bench(out: Path, sizes: Sizes, budget: Budget) -> dict:
    result = _run([sys.executable, "-m", "tools.bench", "--device", sizes.device,
                   "--out", str(out / "bench.json"), *sizes.bench_args], out / "bench.txt", budget)
    if (out / "bench.json").is_file():     # complete, or what a run cut short measured
        result["bench"] = json.loads((out / "bench.json").read_text())
        if result["bench"]["training"]:
            cost = paper_world_cost(load_params(REPO / "params.yaml"), result["bench"])
            result["cost"] = cost
            (out / "cost.txt").write_text("\n".join(projection_lines(cost["runs"], cost["projection"])
                                                    + [target_line(cost["target"])]) + "\n")
    return result


def run_candidates(out: Path, sizes: Sizes, budget: Budget) -> dict:
    """bench.py's candidates for a faster step (CANDIDATE_ARGS; in the dry run at the synthetic
    shapes, where the CPU-possible ones run)."""
    args = list(CANDIDATE_ARGS)
    if sizes.device == "cpu":
        args = ["--shapes", "synthetic", "--candidate-shapes", "synthetic", *args[2:-1], "2", *sizes.bench_args]
    result = _run([sys.executable, "-m", "tools.bench", "--device", sizes.device,
                   "--out", str(out / "candidates.json"), *args], out / "candidates.txt", budget)
    if (out / "candidates.json").is_file():
        result["bench"] = json.loads((out / "candidates.json").read_text())
    return result


def run_tests(out: Path, sizes: Sizes, budget: Budget) -> dict:
    xml = out / "gpu-tests.xml"
    result = _run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-o", "junit_family=xunit1",
                   f"--junitxml={xml}", *sizes.tests], out / "gpu-tests.txt", budget)
    if xml.is_file():
        result.update(read_junit(xml))
    return result


def read_junit(path: Path) -> dict:
    """Counts and each test's outcome and recorded properties from a JUnit XML report."""
    root = ET.parse(path).getroot()
    suite = root if root.tag == "testsuite" else root.find("testsuite")
    cases = {}
    for case in suite.iter("testcase"):
        outcome = "passed"
        for tag in ("failure", "error", "skipped"):
            if case.find(tag) is not None:
                outcome = {"failure": "failed", "error": "error", "skipped": "skipped"}[tag]
        props = {p.get("name"): float(p.get("value")) for p in case.iter("property")}
        cases[f"{case.get('classname')}::{case.get('name')}"] = {"outcome": outcome, **props}
    counts = {k: sum(c["outcome"] == k for c in cases.values()) for k in ("passed", "failed", "error", "skipped")}
    return {"counts": counts, "cases": cases}


PARTS = ("fullrun", "bench", "tests", "candidates", "pipeline")
PIPELINE = [("acquire_asc.py",), ("acquire_aet.py",),
            ("extract_features.py", "--set", "asc"), ("extract_features.py", "--set", "ranking_pool"),
            ("rank_events.py",), ("make_subsets.py",), ("extract_features.py", "--set", "aet_subsets"),
            ("train_figure.py", "--figure", "baselines"), ("train_figure.py", "--figure", "fig3a")]


def pipeline_params(raw: dict, sizes: Sizes, sources: dict) -> dict:
    """params.yaml's paper world, cut to a few steps per run at the paper's shapes."""
    raw = copy.deepcopy(raw)
    raw["world"] = "paper"
    world = raw["worlds"]["paper"]
    for key, value in sizes.shrink.items():
        if isinstance(value, dict):
            world[key].update(value)
        else:
            world[key] = value
    world["source"].update(sources)
    world["ranking"].update(tagger_epochs=1, validation_fraction=0.1)
    k, h = min(35, sizes.audioset["classes"] - 5), sizes.hours
    events = {"strategy": "correlated", "k": k, "hours": h}
    world["figures"] = {"fig2": {**events, "alphas": [0.0, 0.95, 1.0]},
                        "fig3a": {"strategies": ["random", "correlated", "uncorrelated"], "k": k, "hours": h},
                        "fig3b": {"strategy": "random", "k": k, "hours": [h / 2, h]},
                        "fig4": {"strategy": "random", "hours": h, "ks": [2, k]},
                        "fig5": events, "regularizers": {**events, "dropout": 0.3},
                        "sec41": {"strategy": "random", "k": k, "hours": [h], "alphas": [0.95]}}
    if sizes.device == "cpu":
        raw["batch"] = {"asc": 8, "aet": 16}
    return raw


def run_pipeline(out: Path, work: Path, sizes: Sizes, budget: Budget) -> dict:
    from tools.fabricated import fabricate_audioset, fabricate_tut2018
    from aetasc.data.tut2018_source import TUT_FOLDER

    work.mkdir(parents=True, exist_ok=True)
    workers = max(1, len(os.sched_getaffinity(0)))
    started = time.perf_counter()
    fabricate_tut2018(work / "source" / TUT_FOLDER, workers=workers, **sizes.tut)
    fabricate_audioset(work / "source" / "audioset", work / "source" / "clips", workers=workers, **sizes.audioset)
    fabricated = time.perf_counter() - started
    sources = {"download_dir": str(work / "downloads"), "tut2018_dir": str(work / "source"),
               "audioset_csv_url": (work / "source" / "audioset").as_uri(),
               "audioset_ontology_url": (work / "source" / "audioset" / "ontology.json").as_uri(),
               "audioset_clips_dir": str(work / "source" / "clips")}
    raw = read_yaml((REPO / "params.yaml").read_text())
    (work / "params.yaml").write_text(yaml.safe_dump(pipeline_params(raw, sizes, sources), sort_keys=False))
    stages, log = [], out / "pipeline.txt"
    for script, *args in PIPELINE:
        name = script.removesuffix(".py") + "".join(f"@{a}" for a in args[1:])
        record = work / "records" / f"{name}.json"
        result = _run([sys.executable, "-m", "tools.probe", "--record", str(record),
                       str(REPO / "stages" / script), *args], log, budget, cwd=work)
        if record.is_file():
            result.update(json.loads(record.read_text()))
        stages.append({"stage": name, **result})
        if result["status"] != "ok":
            break
    out_dict = {"fabricate_seconds": fabricated, "stages": stages,
                "complete": len(stages) == len(PIPELINE) and all(s["status"] == "ok" for s in stages)}
    extraction = _extraction_rate(log)
    if extraction:
        out_dict["extraction"] = extraction
    for figure in ("baselines", "fig3a"):
        path = work / "metrics" / f"{figure}.json"
        if path.is_file():
            out_dict.setdefault("metrics", {})[figure] = json.loads(path.read_text())["points"]
    return out_dict


def _extraction_rate(log: Path) -> dict | None:
    """extract_features@asc's own summary line: the TUT clips, decoded, resampled, front end."""
    text = log.read_text(errors="replace") if log.is_file() else ""
    marker = "extract_features.py --set asc"
    if marker not in text:
        return None
    section = text.split(marker, 1)[1].split("\n$ ", 1)[0]
    for line in section.splitlines():
        if "x real time" in line and "clips/s" in line:
            # "<s> s on <device>, decoding workers: <n>; <c> clips/s, <x>x real time"
            head, rate = line.split(";", 1)
            return {"line": line.strip(),
                    "workers": int(head.rsplit(":", 1)[1]),
                    "clips_per_second": float(rate.split("clips/s")[0]),
                    "x_realtime": float(rate.split(",")[1].split("x real time")[0])}
    return None


# ------------------------------------------------------------------------ the full run

def fabricated_features(n: int, n_mels: int, frames: int, seed: int) -> "torch.Tensor":
    """n float16 feature rows in host memory: a block of random clips repeated (filling 16 GB
    with fresh random numbers would take minutes; speed and memory do not depend on values)."""
    import torch
    g = torch.Generator().manual_seed(seed)
    block = torch.randn(min(n, 256), n_mels, frames, generator=g).half()
    out = torch.empty(n, n_mels, frames, dtype=torch.float16)
    for start in range(0, n, len(block)):
        out[start:start + len(block)] = block[:n - start]
    return out


def full_run_data(sizes: dict, n_mels: int, frames: int, events: int):
    import torch

    from aetasc.training.spec import RunData, Task
    g = torch.Generator().manual_seed(1)
    scenes = tuple(f"scene{i}" for i in range(N_SCENES))
    mids = tuple(f"/m/event{i}" for i in range(events))

    def scene_task(n: int, seed: int) -> Task:
        return Task(fabricated_features(n, n_mels, frames, seed), torch.randint(0, N_SCENES, (n,), generator=g))

    def event_task(n: int, seed: int) -> Task:
        return Task(fabricated_features(n, n_mels, frames, seed), (torch.rand(n, events, generator=g) < 0.1).float())

    return RunData(scenes, mids, scene_task(sizes["asc_train"], 2), scene_task(sizes["asc_eval"], 3),
                   event_task(sizes["aet_train"], 4), event_task(sizes["aet_val"], 5))


def full_run(params, sizes: dict, device: str, store: Path) -> dict:
    """One joint run, all its steps, through train_run (the Trainer, the run store, a checkpoint
    per epoch, the per-epoch and final evaluations): its wall time and peak memory."""
    import resource

    import torch

    from aetasc.training.batches import fits_on_device
    from aetasc.planning.cost import world_shapes
    from aetasc.training.spec import RunSpec
    from aetasc.training.trainer import train_run

    shapes = world_shapes(params, sizes["world"])
    world = getattr(params.worlds, sizes["world"])
    epochs = sizes["epochs"] or world.epochs
    started = time.perf_counter()
    data = full_run_data(sizes, shapes.n_mels, shapes.frames, shapes.events)
    fabricate_s = time.perf_counter() - started
    spec = RunSpec(alpha=JOINT_ALPHA, seed=0, epochs=epochs, width=shapes.width, batch=params.batch,
                   optimizer=params.optimizer, augment=params.augment, threads=params.threads,
                   data_id=f"gpu-check full run {sizes}")
    dev = torch.device(device)
    training = [data.asc_train.x, data.asc_train.y, data.aet_train.x, data.aet_train.y]
    resident = dev.type == "cuda" and fits_on_device(training, dev)
    data_bytes = sum(t.nbytes for t in training)
    run_dir = store / spec.fingerprint()
    started = time.perf_counter()
    result = train_run(spec, data, run_dir, device=dev, progress=False)
    wall = time.perf_counter() - started
    steps = epochs * (sizes["asc_train"] // params.batch.asc)
    out = {"world": sizes["world"], "width": shapes.width, "input": [shapes.n_mels, shapes.frames],
           "clips": {k: sizes[k] for k in ("asc_train", "asc_eval", "aet_train", "aet_val")},
           "epochs": epochs, "steps": steps, "batch": {"asc": params.batch.asc, "aet": params.batch.aet},
           "fabricate_seconds": fabricate_s, "data_gb": data_bytes / GB, "data_resident": resident,
           "wall_seconds": wall, "train_seconds": result["train_seconds"],
           # per-epoch evaluation, checkpoints, the final evaluation and the run's setup
           "outside_epochs_seconds": wall - result["train_seconds"],
           "asc_accuracy": result.get("asc_accuracy"), "lwlrap": result.get("lwlrap"),
           "checkpoint_kept": (run_dir / "checkpoint.pt").is_file(),
           "host_peak_bytes": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024,
           "gpu_peak_bytes": torch.cuda.max_memory_reserved(dev) if dev.type == "cuda" else None}
    out["outside_epochs_share"] = out["outside_epochs_seconds"] / wall
    return out


def project_full_run(run: dict, bench: dict | None) -> dict:
    """The planner's projection of a measured full run at a benchmark's timings of its shapes
    (aetasc.planning.cost.run_projection; GPU memory: the data if resident plus a joint step's
    measured working set), and the measurement's error against it."""
    timed = (bench or {}).get("training", {}).get(run["world"])
    if timed is None or timed["width"] != run["width"] or timed["input"][1:] != run["input"]:
        return {"projection": None, "why_no_projection": "no bench.json timing at these shapes"}
    proj = run_projection(timed, "joint", run["steps"], run["epochs"], run["clips"]["aet_val"])
    out = {"projection": {**proj, "basis": f"bench of {bench['date']} on {bench['device']['name']}",
                          "gpu_gb": STEP_GPU_GB + (run["data_gb"] if run["data_resident"] else 0.0)},
           "projection_error": run["wall_seconds"] / proj["total_seconds"] - 1}
    if run["gpu_peak_bytes"] is not None:
        out["gpu_peak_error"] = run["gpu_peak_bytes"] / GB / out["projection"]["gpu_gb"] - 1
    return out


def run_full_run(out: Path, work: Path, sizes: Sizes, budget: Budget, dry_run: bool) -> dict:
    cmd = [sys.executable, "-m", "tools.gpu_check", "--full-run", "--out", str(out),
           "--store", str(work / "fullrun-runs")] + (["--dry-run"] if dry_run else [])
    result = _run(cmd, out / "fullrun.txt", budget)
    if (out / "fullrun.json").is_file():
        result["run"] = json.loads((out / "fullrun.json").read_text())
    return result


def full_run_main(argv: list[str] | None = None) -> dict:
    """The full run in this process (the GPU check runs it as a child: its peaks are its own)."""
    ap = argparse.ArgumentParser(prog="python -m tools.gpu_check --full-run")
    ap.add_argument("--full-run", action="store_true", required=True)
    ap.add_argument("--out", required=True, help="folder for fullrun.json")
    ap.add_argument("--store", required=True, help="the run store (a checkpoint per epoch goes there)")
    ap.add_argument("--dry-run", action="store_true")
    args = ap.parse_args(argv)
    out = Path(args.out)
    sizes = DRY if args.dry_run else REAL
    result = full_run(load_params(REPO / "params.yaml"), sizes.full_run, sizes.device, Path(args.store))
    write_json(out / "fullrun.json", result)
    print(json.dumps(result, indent=1))
    return result


# ------------------------------------------------------------------------- the summary

def targets(result: dict) -> list[dict]:
    """One entry per target: name, met (True / False / None = not measured), value, required."""
    out = []
    bench = result["parts"].get("bench", {}).get("bench")
    bench_targets = dict((bench or {}).get("targets", {}))
    cost = result["parts"].get("bench", {}).get("cost")
    if cost is not None:
        bench_targets["paper_world_gpu_hours"] = cost["target"]
    names = {"fraction_of_peak": "training step, share of the bf16 matmul rate",
             "paper_world_gpu_hours": "paper world, projected GPU-hours on this device",
             "data_loading_overhead": "host-data step vs resident"}
    required = {**BENCH_TARGETS, "paper_world_gpu_hours": GPU_HOURS_TARGET}
    for key, label in names.items():
        t = bench_targets.get(key)
        out.append({"target": label, "met": None if t is None else t["met"],
                    "value": None if t is None else t["value"],
                    "required": (">= " if key == "fraction_of_peak" else "<= ") + f"{required[key]:g}"})
    ext = result["parts"].get("pipeline", {}).get("extraction")
    out.append({"target": "feature extraction (decode + resample + front end), x real time",
                "met": None if ext is None or result["dry_run"] else ext["x_realtime"] >= TARGET_X_REALTIME,
                "value": None if ext is None else ext["x_realtime"], "required": f">= {TARGET_X_REALTIME:g}"})
    run = result["parts"].get("fullrun", {}).get("run") or {}
    error = run.get("projection_error")
    out.append({"target": "full-length run, wall time vs the planner's projection",
                "met": None if error is None or result["dry_run"] else abs(error) <= TARGET_PROJECTION_ERROR,
                "value": error, "required": f"within +-{TARGET_PROJECTION_ERROR:g}"})
    tests = result["parts"].get("tests", {})
    counts = tests.get("counts")
    out.append({"target": "GPU tests pass", "met": None if counts is None else
                (counts["failed"] + counts["error"] == 0 and tests["status"] == "ok"),
                "value": counts, "required": "no failure"})
    pipe = result["parts"].get("pipeline", {})
    out.append({"target": "paper-shape pipeline end to end", "met": pipe.get("complete"),
                "value": f"{sum(s['status'] == 'ok' for s in pipe.get('stages', []))}/{len(PIPELINE)} stages",
                "required": "all stages"})
    out.append({"target": "whole check, seconds", "met": result["seconds"] <= TARGET_CHECK_SECONDS,
                "value": result["seconds"], "required": f"<= {TARGET_CHECK_SECONDS}"})
    return out


def _fmt(value) -> str:
    if isinstance(value, float):
        return f"{value:.3g}"
    if isinstance(value, dict):
        return ", ".join(f"{k} {v}" for k, v in value.items() if v)
    return str(value)


def summary_lines(result: dict) -> list[str]:
    lines = [f"GPU check on {result['device']} ({result['date']}{', DRY RUN' if result['dry_run'] else ''}): "
             f"{result['seconds']:.0f} s"]
    for name, part in result["parts"].items():
        lines.append(f"  part {name}: {part.get('status', 'ok')}, {part.get('seconds', 0):.0f} s")
    run = result["parts"].get("fullrun", {}).get("run")
    if run:
        lines.append(f"    full run ({run['world']} shapes, {run['steps']:,} steps, {run['epochs']} epochs, "
                     f"{run['data_gb']:.1f} GB of data {'resident' if run['data_resident'] else 'on the host'}): "
                     f"{run['wall_seconds']:.0f} s, of it {run['outside_epochs_seconds']:.0f} s "
                     f"({100 * run['outside_epochs_share']:.1f} %) outside the training epochs")
        gpu = run["gpu_peak_bytes"]
        if run["projection"]:
            pr = run["projection"]
            lines.append(f"      projected {pr['total_seconds']:.0f} s ("
                         + ", ".join(f"{k} {v:.0f} s" for k, v in pr["seconds"].items())
                         + f"): error {100 * run['projection_error']:+.1f} %; GPU peak "
                         + ("-" if gpu is None else f"{gpu / 2**30:.2f} GiB")
                         + f" vs {pr['gpu_gb']:.1f} GB projected; host peak {run['host_peak_bytes'] / 2**30:.1f} GiB")
    pipe = result["parts"].get("pipeline", {})
    for s in pipe.get("stages", []):
        gpu = s.get("gpu_peak_bytes")
        lines.append(f"    {s['stage']:<32} {s['status']:<10} {s.get('seconds', 0):7.1f} s  "
                     f"GPU peak {'-' if gpu is None else f'{gpu / 2**30:.2f} GiB':>10}  "
                     f"host peak {s.get('host_peak_bytes', 0) / 2**30:.2f} GiB "
                     f"(largest child {s.get('child_peak_bytes', 0) / 2**30:.2f} GiB)")
    for t in result["targets"]:
        verdict = "not measured" if t["met"] is None else ("met" if t["met"] else "NOT met")
        if t["met"] is not None and result["dry_run"]:
            verdict += " (dry run: not a GPU measurement)"
        lines.append(f"{t['target']}: {verdict}: {_fmt(t['value'])} (required {t['required']})")
    return lines


def _device_name(dry_run: bool) -> str:
    import torch
    if dry_run or not torch.cuda.is_available():
        return "cpu"
    return f"{torch.cuda.get_device_name(0)}, torch {torch.__version__}, CUDA {torch.version.cuda}"


def main(argv: list[str] | None = None) -> dict:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--out", default="gpu-check", help="folder for every output (default: gpu-check)")
    ap.add_argument("--work", help="scratch folder for the fabricated data (default: <out>/work)")
    ap.add_argument("--dry-run", action="store_true", help="tiny sizes on the CPU (what CI runs)")
    ap.add_argument("--budget", type=float, default=540.0,
                    help="seconds for all parts together (540: within a 10-minute command with the install)")
    ap.add_argument("--parts", default=",".join(PARTS), help="comma-separated subset, in order")
    args = ap.parse_args(argv)
    sizes = DRY if args.dry_run else REAL
    import torch
    if not args.dry_run and not torch.cuda.is_available():
        sys.exit("gpu_check: no CUDA device here; run it on a GPU machine, or use --dry-run")
    out = Path(args.out).resolve()
    out.mkdir(parents=True, exist_ok=True)
    work = Path(args.work).resolve() if args.work else out / "work"
    budget = Budget(args.budget)
    started = time.perf_counter()
    result = {"device": _device_name(args.dry_run), "dry_run": args.dry_run,
              "date": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
              "command": " ".join(["python -m tools.gpu_check", *(sys.argv[1:] if argv is None else argv)]),
              "parts": {}}
    runners = {"bench": lambda: run_bench(out, sizes, budget),
               "fullrun": lambda: run_full_run(out, work, sizes, budget, args.dry_run),
               "tests": lambda: run_tests(out, sizes, budget),
               "candidates": lambda: run_candidates(out, sizes, budget),
               "pipeline": lambda: {"status": "ok", **run_pipeline(out, work, sizes, budget)}}
    # shares of the budget: (most seconds, seconds left over for the parts after it)
    caps = {"fullrun": (0.60, 0.38), "bench": (0.38, 0.10), "tests": (0.25, 0.05), "candidates": (0.35, 0.0),
            "pipeline": (1.0, 0.0)}
    for name in args.parts.split(","):
        if name not in runners:
            ap.error(f"--parts: unknown part {name!r}; known: {', '.join(runners)}")
        part_start = time.perf_counter()
        most, reserve = caps[name]
        budget.capped(most * args.budget, reserve * args.budget)
        print(f"gpu_check: {name} ({budget.left():.0f} s of the budget left)", flush=True)
        try:
            result["parts"][name] = runners[name]()
        except Exception as err:        # one broken part must not cost the others' numbers
            result["parts"][name] = {"status": f"failed: {type(err).__name__}: {err}"[:500]}
        result["parts"][name].setdefault("seconds", time.perf_counter() - part_start)
        if name == "pipeline":
            result["parts"][name]["seconds"] = time.perf_counter() - part_start
            stages = result["parts"][name].get("stages", [])
            if stages and stages[-1]["status"] != "ok":
                result["parts"][name]["status"] = f"stopped at {stages[-1]['stage']}: {stages[-1]['status']}"
        write_json(out / "gpu_check.json", result)       # partial results survive a kill
    run = result["parts"].get("fullrun", {}).get("run")
    if run is not None:       # projected at this check's benchmark, else at one found in --out
        bench = result["parts"].get("bench", {}).get("bench")
        if bench is None and (out / "bench.json").is_file():
            bench = json.loads((out / "bench.json").read_text())
        run.update(project_full_run(run, bench))
    result["seconds"] = time.perf_counter() - started
    result["targets"] = targets(result)
    write_json(out / "gpu_check.json", result)
    lines = summary_lines(result)
    (out / "summary.txt").write_text("\n".join(lines) + "\n")
    if "bench" in result["parts"]:
        print(_tail(out / "bench.txt", 60))
        print(_tail(out / "cost.txt", 30))
    if "candidates" in result["parts"]:
        print(_tail(out / "candidates.txt", 40))
    logs = {"tests": "gpu-tests.txt", "pipeline": "pipeline.txt", "fullrun": "fullrun.txt"}
    for name, log in logs.items():
        if result["parts"].get(name, {}).get("status", "ok") != "ok":
            print(f"--- {name} log (last lines) ---\n" + _tail(out / log, 25))
    print("\n".join(lines))
    return result


if __name__ == "__main__":
    full_run_main() if "--full-run" in sys.argv[1:] else main()
