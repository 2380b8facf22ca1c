"""The benchmark (a tiny CPU run, its output) and the paper world's cost that aetasc.planning.cost
derives from it: the run counting against a hand count."""
import json

import pytest
import torch

from tools.bench import NO_CUDA, Settings, main, run_benchmark, shared_throughput
from tools.bench_trainer import Timing
from aetasc.config import parse_params
from aetasc.planning.cost import GPU_HOURS_TARGET, count_runs, model_flops, paper_world_cost, world_shapes


def small_paper_world(raw: dict, alpha) -> dict:
    """A paper world small enough to count by hand (batch 8 ASC + 16 AET from the tiny params)."""
    paper = raw["worlds"]["paper"]
    paper.update(seeds=[0, 1], epochs=4)
    # the study's largest budget is the world's: its runs are the figures' where they coincide
    paper["convergence"] = {"tolerance": 0.02, "study_epochs": [2, 4], "study_seeds": 2}
    paper["ranking"].update(tagger_epochs=3, validation_fraction=0.1)
    paper["figures"] = {
        "fig2": {"strategy": "correlated", "k": 35, "hours": 170, "alphas": [0.0, 0.5, 0.95, 1.0]},
        "fig3a": {"strategies": ["random", "correlated"], "k": 35, "hours": 170},
        "fig3b": {"strategy": "random", "k": 35, "hours": [90, 170]},
        "fig4": {"strategy": "random", "hours": 180, "ks": [2, 5]},
        "fig5": {"strategy": "correlated", "k": 35, "hours": 170},
        "regularizers": {"strategy": "correlated", "k": 35, "hours": 170, "dropout": 0.3},
        "sec41": {"strategy": "random", "k": 35, "hours": [90, 170], "alphas": [0.5, 0.95]}}
    return {**raw, "world": "paper", "alpha": alpha}


def test_run_count_matches_a_hand_count(raw_params):
    counts = count_runs(parse_params(small_paper_world(raw_params, 0.95)))
    # Per seed: baselines asc + aet; fig2 alpha 0.5, 0.95 (0 and 1 are the baselines'); fig3a
    # correlated at 0.95 is fig2's; fig3b 170 h is fig3a's random; fig4 both new; fig5's joint
    # point is fig2's 0.95, its pre-training + fine-tuning two new pairs (1 + 1 epochs for half
    # the budget, 2 + 2 for the budget); regularizers: three ASC-only, "aet" (augmentation off)
    # new, "aet+specaugment+mixup" is fig2's 0.95 again; sec41: alpha 0.5 new at both T, alpha
    # 0.95 is fig3b's at both T; the study (budgets 2 and 4: the world's) shares the baselines
    # and fig5's pairs, and adds joint training at Eq. 3's alpha and at 0.9.
    new = {"baselines": 2, "fig2": 2, "fig3a": 1, "fig3b": 1, "fig4": 2, "fig5": 4, "regularizers": 4,
           "sec41": 2, "budget": 2}
    planned = {"baselines": 2, "fig2": 2, "fig3a": 2, "fig3b": 2, "fig4": 2, "fig5": 2, "regularizers": 5,
               "sec41": 4, "budget": 5}
    assert counts["figures"] == {f: {"planned": 2 * planned[f], "new": 2 * new[f]} for f in new}
    assert counts["runs"] == 2 * 20
    # per seed: ASC-only: the baseline, three regularizer points, fig5's two fine-tunings;
    # AET-only: the baseline, fig5's two pre-trainings; joint: 2 + 1 + 1 + 2 + 1 + 2 + 2
    assert counts["kinds"] == {"asc": 12, "aet": 6, "joint": 22}
    assert counts["fine_tuned_runs"] == 4
    per_epoch = 6122 // 8
    assert counts["steps_per_run"] == 4 * per_epoch
    # epochs per seed: ASC-only 4 x 4 + (1 + 2) fine-tuning; AET-only 4 + (1 + 2); joint 11 x 4
    assert counts["run_clip_steps"] == 2 * per_epoch * ((4 * 4 + 1 + 2) * 8 + (4 + 1 + 2) * 16 + 11 * 4 * 24)
    assert counts["tagger_steps"] == 3 * ((20_550 - 2055) // 16)
    # every epoch a strided sample of the 2,518 ASC evaluation clips (stride 10: 252 clips)
    # and, for runs with an event set (all but the three augmentation-only ASC points), 256
    # AET validation clips; the whole ASC fold at the end of each of the 20 runs and once more
    # at half the budget in the 16 that are not pre-training pairs. The tagger: 229 of its
    # 2,055 held-out clips (stride 9) per epoch, all of them at the end.
    assert counts["eval_clips"] == 2 * (58 * (252 + 256) + 12 * 252 + 36 * 2518) + 3 * 229 + 2055
    assert counts["processes"] == 9 + 1          # one per figure with new runs, the tagger's


def test_auto_alpha_is_one_more_distinct_alpha(raw_params):
    counts = count_runs(parse_params(small_paper_world(raw_params, "auto")))
    # fig3a's correlated point no longer coincides with fig2's alpha = 0.95 (fig5's joint
    # point, the regularizers' last one and the study's Eq. 3 point coincide with it), and
    # sec41's alpha = 0.95 points no longer coincide with fig3b's
    assert counts["figures"]["fig3a"]["new"] == 4
    assert counts["figures"]["sec41"]["new"] == 8
    assert counts["figures"]["budget"]["new"] == 2
    assert counts["runs"] == 2 * 22


def test_paper_step_flops_match_the_reference_anchor(tiny_params):
    shapes = world_shapes(tiny_params, "paper")
    per_clip = model_flops(shapes, 192, 64, backward=True) / 192
    assert 24e9 < per_clip < 30e9            # ~27 GFLOP per clip per training step
    forward = model_flops(shapes, 192, 192, backward=False) / 192
    assert 2.9 < per_clip / forward < 3.1    # backward costs twice the forward


@pytest.mark.slow
def test_tiny_benchmark_on_cpu_writes_every_key(raw_params, write_params, tmp_path, capsys):
    out = tmp_path / "bench.json"
    result = main(["--params", str(write_params(raw_params)), "--out", str(out), "--device", "cpu",
                   "--steps", "1", "--warmup", "1", "--repeats", "1", "--matmul-size", "256"])
    assert json.loads(out.read_text()) == json.loads(json.dumps(result))
    assert set(result) == {"device", "date", "command", "complete", "matmul", "features", "training",
                           "targets"}                # measurements only: aetasc.planning.cost projects
    assert result["complete"] is True
    step = result["training"]["synthetic"]
    assert step["input"] == [1, 32, 32] and step["width"] == 4
    assert {"ms_per_step", "clips_per_second", "flops_per_step", "fraction_of_peak",
            "eval_clips_per_second", "levers", "data_loading", "sharing"} <= set(step)
    skipped = {lv["lever"] for lv in step["levers"] if lv.get("skipped", "").startswith(NO_CUDA)}
    assert skipped == {"bf16 autocast", "cudnn.benchmark", "fused AdamW", "torch.compile"}
    assert [d["source"] for d in step["data_loading"]] == ["resident (default)", "host memmap",
                                                          "host, pinned staging"]
    assert [s.get("skipped") for s in step["sharing"]] == [NO_CUDA, NO_CUDA]
    assert result["features"]["x_realtime"] > 0
    assert result["targets"]["verified"] is False
    table = capsys.readouterr().out
    assert "training step" in table and "NOT verified" in table and "python -m aetasc.planning --bench" in table
    # the paper world of params.yaml (alpha: auto, as Eq. 3 gives it) priced at these timings
    cost = paper_world_cost(parse_params(raw_params), result)
    assert cost["runs"]["runs"] == 232          # Sec. 4.1 at alpha 0.5 and 0.95; the study, pre-training pairs
    assert cost["projection"]["basis"].startswith("synthetic shapes' timings")
    assert cost["target"]["met"] is None and cost["target"]["required"] == GPU_HOURS_TARGET
    assert cost["projection"]["total_hours"] == pytest.approx(sum(cost["projection"]["hours"].values()))


@pytest.mark.slow
def test_runs_sharing_a_device_report_aggregate_throughput(tiny_params):
    shapes = world_shapes(tiny_params, "synthetic")
    rate = shared_throughput(tiny_params, shapes, 2, Timing(1, 1, 1), torch.device("cpu"))
    assert rate > 0


@pytest.mark.gpu
@pytest.mark.slow
def test_gpu_benchmark_measures_every_lever(raw_params):
    # compile modes off: each costs a minute of device time, and the GPU check's full
    # benchmark measures them
    settings = Settings(torch.device("cuda"), Timing(2, 2, 1), ("paper", "synthetic"), shares=(1, 2),
                        matmul_size=4096, matmul_reps=5, feature_batch=8, eval_clips=64, compile_modes={})
    raw_params["worlds"]["paper"]["epochs"] = 4      # too short a run to compile
    result = run_benchmark(raw_params, settings)
    for step in result["training"].values():
        assert all("skipped" not in lv or lv["skipped"].startswith("failed") for lv in step["levers"])
        assert [d["source"] for d in step["data_loading"]] == [
            "resident (default)", "host, prefetched (default)", "host, no prefetch", "host memmap, prefetched"]
        assert 0 < step["fraction_of_peak"] < 1 and step["compiled"] is False
    assert [s["processes"] for s in result["training"]["synthetic"]["sharing"]] == [1, 2]
    assert result["training"]["paper"]["sharing"] == []
    assert result["matmul"]["dtype"] == "bfloat16"
    assert paper_world_cost(parse_params(raw_params), result)["projection"]["basis"] == "measured at the paper's shapes"
    assert result["targets"]["verified"] is True
    assert all(t["met"] is not None for k, t in result["targets"].items() if k not in ("required", "verified"))


def test_planner_prices_one_compile_per_process_and_measured_sharing(raw_params):
    from aetasc.planning.cost import projection, run_projection
    params = parse_params(small_paper_world(raw_params, 0.95))
    counts = count_runs(params)
    timed = {"width": 4, "input": [1, 128, 1001], "batch": {"asc": 8, "aet": 16}, "ms_per_step": 24.0,
             "flops_per_step": 1e12, "forward_flops_per_clip": 1e10, "eval_clips_per_second": 1000.0,
             "compiled": True, "compile_seconds": 30.0, "recompile_seconds": 2.0,
             "sharing": [{"processes": 1, "kind": "asc", "vs_one": 1.0},
                         {"processes": 3, "kind": "asc", "vs_one": 2.5}]}
    shapes = world_shapes(params, "paper")
    out = projection(counts, {"paper": timed}, {"clips_per_second": 1e6}, 1e15, shapes)
    # each process (a figure's, the tagger's) compiles once (30 s); every other run, the
    # tagger's included, finds the graph cached (2 s)
    processes, runs = counts["processes"], counts["runs"] + 1
    assert processes == sum(f["new"] > 0 for f in counts["figures"].values()) + 1
    assert out["hours"]["compilation"] == pytest.approx((processes * 30 + (runs - processes) * 2) / 3600)
    per_clip = 0.024 / 24
    clip_steps = counts["clip_steps"]
    assert out["hours"]["figure_runs"] == pytest.approx(
        (clip_steps["asc"] / 2.5 + clip_steps["aet"] + clip_steps["joint"]) * per_clip / 3600)
    assert "asc runs 3 to a GPU (2.50x aggregate, measured)" in out["basis"]
    run = run_projection(timed, "joint", 100, 2, 300)
    assert run["seconds"]["training"] == pytest.approx(100 * 0.024)
    assert run["seconds"]["compilation"] == 0.0               # 100 steps: too short to compile


def test_python_dash_m_tools_bench_runs_main_and_its_help_names_the_real_defaults():
    # main() above is called directly; this is the command `make bench` and the GPU check run
    import os
    import subprocess
    import sys
    from pathlib import Path
    proc = subprocess.run([sys.executable, "-m", "tools.bench", "--help"], cwd=Path(__file__).resolve().parents[1],
                          capture_output=True, text=True, env={**os.environ, "COLUMNS": "200"})   # no wrapping
    assert proc.returncode == 0, proc.stderr
    assert "(default: 1,4)" in proc.stdout                   # default_settings' shares on a GPU
