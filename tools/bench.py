"""How fast the pipeline runs on this machine: measurements only (aetasc.planning.cost prices the
paper's world from them: `python -m aetasc.planning --bench metrics/bench.json`).

Measures, on the device present (`python -m tools.bench`, `make bench`):
- the training step of `Trainer.train_epoch` (64 ASC + 128 AET clips, synthetic features
  resident on the device) at the paper's shapes and the synthetic world's, warm-up excluded;
- its model FLOPs (convolutions and matrix products, counted on the meta device) and the
  fraction of the device's measured matrix-multiply rate the step achieves;
- the log-mel front end on 10 s clips at 32 kHz, and the evaluation pass;
- levers, each against the plain version in the same run: bf16 autocast, channels_last,
  cuDNN autotuning, torch.compile, data on the host (pinned, pageable, memory-mapped)
  instead of resident, several runs sharing one GPU.
GPU-only levers are recorded as skipped on a machine without CUDA. The Trainer it times,
levers pulled, is set up in tools/bench_trainer.py; the table it prints is tools/bench_report.py.
"""
from __future__ import annotations

import argparse
import contextlib
import datetime
import gc
import platform
import sys
import time
from dataclasses import dataclass, field, replace
from pathlib import Path

import torch

from aetasc.config import FeatureParams, Params, parse_params, read_yaml
from aetasc.features.extraction import LogMel
from aetasc.io import write_json
from aetasc.planning.cost import STEP_FRACTION_TARGET, Shapes, model_flops, steps_per_run, world_shapes
from aetasc.training.spec import RunData
from aetasc.training.trainer import COMPILE_MIN_STEPS, Trainer
from tools.bench_report import format_report
from tools.bench_trainer import JOINT_ALPHA, Levers, Timing, bench_data, make_trainer, time_eval, time_trainer, timed

TARGETS = {"fraction_of_peak": STEP_FRACTION_TARGET, "data_loading_overhead": 0.05}   # the paper world's GPU-hours: aetasc.planning.cost
NO_CUDA = "skipped: no CUDA device"
SHARE_TIMEOUT_S = 900


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


# ----------------------------------------------------------------------- the device

def matmul_rate(device: torch.device, size: int, reps: int) -> dict:
    """FLOP/s of a large square matrix product: bf16 on a GPU, fp32 on the CPU."""
    dtype = torch.bfloat16 if device.type == "cuda" else torch.float32
    a = torch.randn(size, size, device=device, dtype=dtype)
    b = torch.randn(size, size, device=device, dtype=dtype)
    a @ b
    _sync(device)
    start = time.perf_counter()
    for _ in range(reps):
        a @ b
    _sync(device)
    seconds = time.perf_counter() - start
    return {"dtype": str(dtype).removeprefix("torch."), "size": size, "reps": reps,
            "flops_per_second": 2 * size ** 3 * reps / seconds}


def feature_rate(params: FeatureParams, device: torch.device, batch: int, reps: int) -> dict:
    """The log-mel front end as extract_features runs it (waveforms in, float16 rows back on
    the host); decoding and resampling the audio files are not included."""
    front_end = LogMel(params).to(device).eval()
    waves = 0.1 * torch.randn(batch, params.clip_samples, device=device)
    with torch.inference_mode():
        front_end(waves).half().cpu()
        start = time.perf_counter()
        for _ in range(reps):
            front_end(waves).half().cpu()
        seconds = time.perf_counter() - start
    clips_per_second = batch * reps / seconds
    return {"clip_seconds": params.clip_seconds, "sample_rate": params.sample_rate,
            "shape": [params.n_mels, params.frames], "batch": batch,
            "clips_per_second": clips_per_second,
            "x_realtime": clips_per_second * params.clip_seconds}


def describe_device(device: torch.device) -> dict:
    out = {"type": device.type, "torch": torch.__version__, "threads": torch.get_num_threads()}
    if device.type == "cuda":
        out.update(name=torch.cuda.get_device_name(device), cuda=torch.version.cuda)
    else:
        out["name"] = _cpu_name()
    return out


def _cpu_name() -> str:
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    return platform.machine()


# -------------------------------------------------------------------------- levers

def _lever(name: str, plain: str, plain_s: float, with_: str, with_s: float, **extra) -> dict:
    return {"lever": name, "plain": plain, "plain_ms": 1e3 * plain_s, "with": with_,
            "with_ms": 1e3 * with_s, "speedup": plain_s / with_s, **extra}


def _skipped(name: str, why: str) -> dict:
    return {"lever": name, "skipped": why}


COMPILE_MODES = {"default": "torch.compile", "reduce-overhead": "CUDA graphs"}


def measure_levers(params: Params, shapes: Shapes, data: RunData, device: torch.device,
                   timing: Timing, default_s: float, compile_mode: str | None,
                   run_steps: int, compiled: tuple[float, float] | None = None) -> list[dict]:
    """Each lever against the other setting, all else at the Trainer's defaults (default_s).

    compile_mode: the torch.compile mode measured at these shapes (None: not measured here);
    its compile time is amortized over run_steps, the steps of one run of the world.
    compiled: (seconds per step, compile seconds) of the Trainer's own compiled step at these
    shapes, measured already: the default mode's lever is built from it, not compiled again.
    """
    def t(**levers) -> float:
        return timed(params, shapes, data, device, timing, Levers(**levers))[0]

    layout = _lever("channels_last", "contiguous", t(channels_last=False), "channels_last (default)", default_s)
    if device.type != "cuda":
        return [_skipped("bf16 autocast", NO_CUDA), layout, _skipped("cudnn.benchmark", NO_CUDA),
                _skipped("fused AdamW", NO_CUDA),
                _skipped("torch.compile", NO_CUDA + " (compile time would dominate a CPU run)")]
    out = [_lever("bf16 autocast", "fp32 (torch defaults)", t(bf16=False), "bf16 (default)", default_s),
           layout,
           _lever("cudnn.benchmark", "off", t(cudnn_benchmark=False), "on (default)", default_s),
           _lever("fused AdamW", "foreach", t(fused_adamw=False), "fused (default)", default_s)]
    if compile_mode is not None:
        out.append(_compile_lever(params, shapes, data, device, timing, default_s, compile_mode, run_steps,
                                  compiled if compile_mode == "default" else None))
    return out


def _compile_lever(params, shapes, data, device, timing, default_s, mode, run_steps, known) -> dict:
    name = COMPILE_MODES.get(mode, f"torch.compile {mode}")
    if known is not None:
        per_step, compile_s = known
    else:
        try:
            per_step, warm = timed(params, shapes, data, device, timing, Levers(compile_mode=mode))
        except Exception as err:       # an unsupported backend or op: recorded, not fatal
            return _skipped(name, f"failed: {type(err).__name__}: {err}"[:300])
        compile_s = max(0.0, warm - timing.warmup * per_step)
    saving = default_s - per_step
    return _lever(name, "eager (default)", default_s, f"compiled ({mode})", per_step,
                  compile_seconds=compile_s,
                  break_even_steps=compile_s / saving if saving > 0 else None,
                  run_steps=run_steps,
                  run_speedup=run_steps * default_s / (run_steps * per_step + compile_s))


DATA_SOURCES = {"host": "host, prefetched (default)", "host-sync": "host, no prefetch",
                "host-memmap": "host memmap, prefetched"}


def measure_data_loading(params: Params, shapes: Shapes, data: RunData, device: torch.device,
                         timing: Timing, resident_s: float) -> list[dict]:
    """Step time with the training data in host memory (as when it does not fit on the GPU)
    against the data resident on the device. The host path gathers each mini-batch into
    pinned staging buffers on a background thread and copies it over on a side stream,
    ahead of the step; "no prefetch" does the same in the step."""
    out = [{"source": "resident (default)", "ms": 1e3 * resident_s, "overhead": 0.0}]
    sources = list(DATA_SOURCES) if device.type == "cuda" else ["host-memmap"]
    for source in sources:
        seconds = timed(params, shapes, data, device, timing, Levers(data=source))[0]
        label = DATA_SOURCES[source] if device.type == "cuda" else "host memmap"   # no prefetch on a CPU
        out.append({"source": label, "ms": 1e3 * seconds, "overhead": seconds / resident_s - 1})
    if device.type != "cuda":
        out.append({"source": "host, pinned staging", "skipped": NO_CUDA})
    return out


def _shared_worker(raw_params: dict, shapes: Shapes, timing: Timing, device: str, start, results,
                   alpha: float = JOINT_ALPHA) -> None:
    """One of n runs sharing a device: warm up, wait for the others, time one block of steps."""
    try:
        params = parse_params(raw_params)
        trainer = make_trainer(params, shapes, bench_data(params, shapes, timing, eval_clips=1),
                               torch.device(device), alpha=alpha)
        trainer.steps_per_epoch = timing.warmup
        trainer.train_epoch()
        trainer.steps_per_epoch = timing.steps
        start.wait()
        began = time.time()          # wall clock: comparable across processes
        trainer.train_epoch()
        results.put((began, time.time()))
    except Exception as err:
        results.put(f"{type(err).__name__}: {err}")


KIND_ALPHA = {"joint": JOINT_ALPHA, "asc": 0.0, "aet": 1.0}


def shared_throughput(params: Params, shapes: Shapes, n: int, timing: Timing,
                      device: torch.device, kind: str = "joint") -> float:
    """Aggregate training clips/s of n processes running the same step (of a joint, ASC-only
    or AET-only run) on one device."""
    ctx = torch.multiprocessing.get_context("spawn")
    start, results = ctx.Barrier(n, timeout=SHARE_TIMEOUT_S), ctx.Queue()
    procs = [ctx.Process(target=_shared_worker, daemon=True,
                         args=(params.model_dump(), shapes, timing, str(device), start, results,
                               KIND_ALPHA[kind]))
             for _ in range(n)]
    for p in procs:
        p.start()
    try:
        spans = [results.get(timeout=SHARE_TIMEOUT_S) for _ in procs]
    finally:
        for p in procs:
            p.join(timeout=60)
    errors = [s for s in spans if isinstance(s, str)]
    if errors:
        raise RuntimeError(errors[0])
    clips = {"joint": params.batch.asc + params.batch.aet, "asc": params.batch.asc, "aet": params.batch.aet}[kind]
    return n * timing.steps * clips / (max(e for _, e in spans) - min(b for b, _ in spans))


def measure_sharing(params: Params, shapes: Shapes, device: torch.device, timing: Timing,
                    shares: tuple[int, ...], kind: str = "joint") -> list[dict]:
    """Aggregate clips/s of n runs of one kind sharing the device, and vs one such run."""
    if device.type != "cuda":
        return [{"processes": n, "kind": kind, "skipped": NO_CUDA} for n in shares if n > 1]
    gc.collect()                     # this process's cached blocks would crowd the others out
    torch.cuda.empty_cache()
    out = []
    for n in shares:
        try:
            out.append({"processes": n, "kind": kind,
                        "clips_per_second": shared_throughput(params, shapes, n, timing, device, kind)})
        except Exception as err:      # e.g. out of memory at n copies: recorded, not fatal
            out.append({"processes": n, "kind": kind, "skipped": f"failed: {err}"[:300]})
    one = next((r["clips_per_second"] for r in out if r["processes"] == 1 and "clips_per_second" in r), None)
    for r in out:
        if one and "clips_per_second" in r:
            r["vs_one"] = r["clips_per_second"] / one
    return out


# ----------------------------------------------------------------- one shape, all of it

def measure_shapes(params: Params, shapes: Shapes, settings: Settings, peak: float) -> dict:
    device, timing, batch = settings.device, settings.timing, params.batch
    clips = batch.asc + batch.aet
    data = bench_data(params, shapes, replace(timing, steps=max(timing.steps, settings.profile_steps)),
                      settings.eval_clips)
    # The step as a run of this world takes it: compiled where the Trainer compiles.
    compiled = device.type == "cuda" and steps_per_run(params, shapes.world) >= COMPILE_MIN_STEPS
    trainer = make_trainer(params, shapes, data, device, Levers(compile_mode="default" if compiled else None))
    seconds, warm = time_trainer(trainer, timing)
    eval_rate = time_eval(trainer)
    profile = profile_step(trainer, settings.profile_steps) if settings.profile_steps else None
    del trainer
    recompile = None
    if compiled:     # the next run's model, compiled in the same process as a figure process does
        again = make_trainer(params, shapes, data, device, Levers(compile_mode="default"))
        per_step, warm_again = time_trainer(again, Timing(1, timing.warmup, 1))
        recompile = max(0.0, warm_again - timing.warmup * per_step)
        del again
    flops = model_flops(shapes, clips, batch.asc, backward=True)
    out = {"width": shapes.width, "input": [1, shapes.n_mels, shapes.frames],
           "batch": {"asc": batch.asc, "aet": batch.aet},
           "timing": {"steps": timing.steps, "warmup": timing.warmup, "repeats": timing.repeats},
           "ms_per_step": 1e3 * seconds, "clips_per_second": clips / seconds,
           "flops_per_step": flops,
           "forward_flops_per_clip": model_flops(shapes, clips, clips, backward=False) / clips,
           "flops_per_second": flops / seconds, "fraction_of_peak": flops / seconds / peak,
           "eval_clips_per_second": eval_rate,
           "compiled": compiled,
           # once per run: what the warm-up took beyond its steps (compilation, autotuning)
           "compile_seconds": max(0.0, warm - timing.warmup * seconds) if compiled else 0.0,
           "recompile_seconds": recompile}
    if profile is not None:
        out["profile"] = profile
    if settings.levers:
        run_steps = steps_per_run(params, shapes.world)
        default_s = timed(params, shapes, data, device, timing)[0]
        out["default_ms"] = 1e3 * default_s     # eager, the levers' baseline
        out["levers"] = measure_levers(params, shapes, data, device, timing, default_s,
                                       settings.compile_modes.get(shapes.world), run_steps,
                                       (seconds, out["compile_seconds"]) if compiled else None)
        out["data_loading"] = measure_data_loading(params, shapes, data, device, timing, default_s)
        shares = settings.shares if shapes.world in settings.share_shapes else ()
        out["sharing"] = measure_sharing(params, shapes, device, timing, shares)
    if settings.candidates and shapes.world == settings.candidate_shapes:
        out["candidates"] = measure_candidates(params, shapes, data, device, timing, seconds, compiled,
                                               out["compile_seconds"], settings.candidates)
        if "asc-sharing" in settings.candidates:
            out.setdefault("sharing", []).extend(
                measure_sharing(params, shapes, device, timing, settings.asc_shares, kind="asc"))
    return out


# ------------------------------------------------------------- candidates for the step

CANDIDATES = ("max-autotune", "cuda-graphs", "bf16-input", "asc-sharing")
CANDIDATE_MODES = {"max-autotune": "max-autotune", "cuda-graphs": "reduce-overhead"}


def measure_candidates(params: Params, shapes: Shapes, data: RunData, device: torch.device, timing: Timing,
                       step_s: float, compiled: bool, compile_s: float, names: tuple[str, ...]) -> list[dict]:
    """Ways to a faster step, each against the step as the Trainer takes it (step_s, compiled
    where runs compile) in the same process, with its compile time counted: max-autotune
    (Triton autotuning of every kernel), CUDA graphs over the compiled step (reduce-overhead)
    and bf16 features from the gather. A whole run's speed-up includes both compile times."""
    run_steps = steps_per_run(params, shapes.world)
    base = "default" if compiled else None
    out = []
    for name in names:
        if name == "asc-sharing":          # measured with the sharing (kind asc)
            continue
        if name in CANDIDATE_MODES and device.type != "cuda":
            out.append(_skipped(name, NO_CUDA))
            continue
        levers = Levers(compile_mode=CANDIDATE_MODES[name]) if name in CANDIDATE_MODES \
            else Levers(compile_mode=base, bf16_input=True)
        try:
            per_step, warm = timed(params, shapes, data, device, timing, levers)
        except Exception as err:          # an unsupported backend or op: recorded, not fatal
            out.append(_skipped(name, f"failed: {type(err).__name__}: {err}"[:300]))
            continue
        this_compile = max(0.0, warm - timing.warmup * per_step) if levers.compile_mode else 0.0
        out.append(_lever(name, "the Trainer's step", step_s, levers.compile_mode or "eager", per_step,
                          compile_seconds=this_compile, run_steps=run_steps,
                          run_speedup=(run_steps * step_s + compile_s) / (run_steps * per_step + this_compile)))
    return out


def profile_step(trainer: Trainer, steps: int, top: int = 15) -> dict:
    """torch.profiler over `steps` training steps (after one untimed): the operations and
    kernels with the most self time (device time on a GPU, CPU time on the CPU), per step and
    as a share of the total."""
    from torch.profiler import ProfilerActivity, profile

    cuda = trainer.device.type == "cuda"
    trainer.steps_per_epoch = 1
    trainer.train_epoch()
    trainer.steps_per_epoch = steps
    with profile(activities=[ProfilerActivity.CPU] + ([ProfilerActivity.CUDA] if cuda else [])) as prof:
        trainer.train_epoch()

    def self_us(e) -> float:
        if not cuda:
            return e.self_cpu_time_total
        return getattr(e, "self_device_time_total", None) or getattr(e, "self_cuda_time_total", 0.0)

    events = sorted((e for e in prof.key_averages() if self_us(e) > 0), key=self_us, reverse=True)
    total = sum(self_us(e) for e in events)
    return {"clock": "device" if cuda else "cpu", "steps": steps, "ms_per_step": total / 1e3 / steps,
            "top": [{"name": e.key, "ms_per_step": self_us(e) / 1e3 / steps, "share": self_us(e) / total,
                     "calls_per_step": e.count / steps} for e in events[:top]]}


def check_targets(result: dict) -> dict:
    """The GPU targets, each {"met", "value", "required"}; verified only where measured on a
    CUDA device at the paper's shapes."""
    if result["device"]["type"] != "cuda":
        return {"verified": False, "why": "no CUDA device: the targets are GPU targets"}
    paper = result["training"].get("paper")
    if paper is None:
        return {"verified": False, "why": "the paper's shapes were not timed (--shapes paper)"}
    host = next((d for d in paper.get("data_loading", []) if d["source"] == DATA_SOURCES["host"]), None)

    def target(value, required, at_most=False) -> dict:
        met = None if value is None else (value <= required if at_most else value >= required)
        return {"met": met, "value": value, "required": required}

    return {"verified": True,
            "fraction_of_peak": target(paper["fraction_of_peak"], TARGETS["fraction_of_peak"]),
            "data_loading_overhead": target(None if host is None else host["overhead"],
                                            TARGETS["data_loading_overhead"], at_most=True)}


# ------------------------------------------------------------------------ the benchmark

@dataclass(frozen=True)
class Settings:
    device: torch.device
    timing: Timing
    shapes: tuple[str, ...]          # worlds whose step shapes are timed
    levers: bool = True
    shares: tuple[int, ...] = (1, 2, 4)   # numbers of processes sharing the device (GPU only)
    share_shapes: tuple[str, ...] = ("synthetic",)   # the shapes sharing is measured at
    # The torch.compile mode measured at each shape: its fusions where the step moves the
    # most memory (the paper's), CUDA graphs where kernel launches dominate (the synthetic
    # world's). Each compile costs device time (about a minute), so one per shape.
    compile_modes: dict = field(default_factory=lambda: {"paper": "default", "synthetic": "reduce-overhead"})
    matmul_size: int = 2048
    matmul_reps: int = 3
    feature_batch: int = 4
    feature_reps: int = 2
    eval_clips: int = 256
    candidates: tuple[str, ...] = ()      # CANDIDATES measured at candidate_shapes
    candidate_shapes: str = "paper"
    asc_shares: tuple[int, ...] = (1, 2, 3)   # ASC-only runs sharing the device (asc-sharing)
    profile_steps: int = 0                # torch.profiler over this many steps of each shape (0: off)


def default_settings(device: torch.device) -> Settings:
    """A GPU run times both worlds' shapes with every lever; a CPU run stays within seconds."""
    if device.type == "cuda":
        return Settings(device, Timing(steps=10, warmup=3, repeats=3), ("paper", "synthetic"), shares=(1, 4),
                        matmul_size=8192, matmul_reps=50, feature_batch=64,
                        feature_reps=10, eval_clips=1024)
    return Settings(device, Timing(steps=2, warmup=1, repeats=5), ("synthetic",))


def run_benchmark(raw_params: dict, settings: Settings, command: str = "", save=None) -> dict:
    """Every measurement; `save(result)` is called after each shape with what is known so far
    (complete: False), so a run cut short still leaves its numbers."""
    params = parse_params(raw_params)
    device = settings.device
    peak = matmul_rate(device, settings.matmul_size, settings.matmul_reps)
    result = {"device": describe_device(device),
              "date": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
              "command": command, "complete": False, "matmul": peak,
              "features": feature_rate(params.worlds.paper.features, device, settings.feature_batch,
                                       settings.feature_reps),
              "training": {}}
    for world in settings.shapes:
        result["training"][world] = measure_shapes(params, world_shapes(params, world), settings,
                                                   peak["flops_per_second"])
        result["targets"] = {"required": TARGETS, **check_targets(result)}
        if save is not None and world != settings.shapes[-1]:
            save(result)
    result["complete"] = True
    return result


# ------------------------------------------------------------------------------- CLI

def _ints(text: str) -> tuple[int, ...]:
    return tuple(int(v) for v in text.split(",") if v)


def _names(text: str) -> tuple[str, ...]:
    names = tuple(v for v in text.split(",") if v)
    unknown = sorted(set(names) - set(CANDIDATES))
    if unknown:
        raise argparse.ArgumentTypeError(f"unknown candidate(s) {', '.join(unknown)}; known: {', '.join(CANDIDATES)}")
    return names


def main(argv: list[str] | None = None) -> dict:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--params", default="params.yaml")
    ap.add_argument("--out", default="metrics/bench.json")
    ap.add_argument("--device", default=None, help="default: cuda if available, else cpu")
    ap.add_argument("--steps", type=int, help="timed steps per block (default: 10 GPU, 2 CPU)")
    ap.add_argument("--warmup", type=int, help="untimed steps first (default: 3 GPU, 1 CPU; >= 1)")
    ap.add_argument("--repeats", type=int, help="timed blocks; the fastest counts (default: 3 GPU, 5 CPU)")
    ap.add_argument("--shapes", help="worlds whose shapes are timed, comma-separated "
                                     "(default: paper,synthetic on a GPU, synthetic on the CPU)")
    ap.add_argument("--share", type=_ints, help="numbers of runs sharing the GPU (default: 1,4)")
    ap.add_argument("--matmul-size", type=int, help="default: 8192 GPU, 2048 CPU")
    ap.add_argument("--no-levers", action="store_true", help="time the Trainer's step only")
    ap.add_argument("--candidates", type=_names, default=(),
                    help=f"comma-separated, measured at --candidate-shapes: {','.join(CANDIDATES)}")
    ap.add_argument("--candidate-shapes", choices=("paper", "synthetic"), help="default: paper")
    ap.add_argument("--profile", type=int, metavar="STEPS", help="torch.profiler table over STEPS steps")
    args = ap.parse_args(argv)
    raw = read_yaml(Path(args.params).read_text())
    device = torch.device(args.device or ("cuda" if torch.cuda.is_available() else "cpu"))
    base = default_settings(device)
    timing = replace(base.timing, **_given(steps=args.steps, warmup=args.warmup, repeats=args.repeats))
    if min(timing.steps, timing.warmup, timing.repeats) < 1:
        ap.error("--steps, --warmup and --repeats must be at least 1")
    shapes = tuple(args.shapes.split(",")) if args.shapes else base.shapes
    if not shapes or not set(shapes) <= {"paper", "synthetic"}:
        ap.error("--shapes takes paper and/or synthetic")
    settings = replace(base, timing=timing, shapes=shapes, levers=not args.no_levers,
                       candidates=args.candidates,
                       **_given(shares=args.share, matmul_size=args.matmul_size,
                                candidate_shapes=args.candidate_shapes, profile_steps=args.profile))
    command = " ".join(["python", "-m tools.bench",
                        *(sys.argv[1:] if argv is None else argv)])
    result = run_benchmark(raw, settings, command, save=lambda partial: write_json(args.out, partial))
    write_json(args.out, result)
    print(format_report(result))
    print(f"\nwritten: {args.out}")
    return result


def _given(**options) -> dict:
    return {k: v for k, v in options.items() if v is not None}


if __name__ == "__main__":
    main()
