"""The prepared GPU check, in its dry-run form: the same parts, tiny, on the CPU."""
import json

import pytest
import soundfile as sf

from tools.fabricated import fabricate_audioset, fabricate_tut2018
from aetasc.data.audioset import read_segments_csv
from aetasc.data.tut2018 import read_tut2018
from tools.bench import NO_CUDA
from tools.gpu_check import PIPELINE, main


@pytest.mark.slow
def test_dry_run_runs_every_part_and_judges_every_target(tmp_path, capsys):
    out = tmp_path / "out"
    # a budget for a busy 2-core machine: the default fits the GPU run, not CI
    result = main(["--dry-run", "--out", str(out), "--work", str(tmp_path / "work"), "--budget", "1800"])
    assert json.loads((out / "gpu_check.json").read_text()) == json.loads(json.dumps(result))
    assert {name: part["status"] for name, part in result["parts"].items()} == dict.fromkeys(
        ("fullrun", "bench", "tests", "candidates", "pipeline"), "ok")
    assert result["parts"]["bench"]["bench"]["complete"] is True
    tests = result["parts"]["tests"]
    assert tests["counts"]["failed"] == tests["counts"]["error"] == 0 and tests["counts"]["passed"] > 0
    host = tests["cases"]["tests.test_gpu::test_host_data_trains_to_the_resident_numbers[cpu]"]
    assert host == {"outcome": "passed", "host_vs_resident_loss_rel": 0.0}
    pipe = result["parts"]["pipeline"]
    assert pipe["complete"] and [s["stage"] for s in pipe["stages"]] == [
        "acquire_asc", "acquire_aet", "extract_features@asc", "extract_features@ranking_pool", "rank_events",
        "make_subsets", "extract_features@aet_subsets", "train_figure@baselines", "train_figure@fig3a"]
    assert len(pipe["stages"]) == len(PIPELINE)
    for stage in pipe["stages"]:
        assert stage["exit_status"] == 0 and stage["seconds"] > 0 and stage["host_peak_bytes"] > 0
        assert stage["gpu_peak_bytes"] is None            # no GPU in a dry run
    assert pipe["extraction"]["x_realtime"] > 0 and pipe["extraction"]["workers"] >= 1
    assert set(pipe["metrics"]["fig3a"]) == {"random", "correlated", "uncorrelated"}
    run = result["parts"]["fullrun"]["run"]
    assert run["steps"] == 2 * (128 // 64) and run["projection"] is not None      # the bench timed these shapes
    candidates = {c["lever"]: c for c in result["parts"]["candidates"]["bench"]["training"]["synthetic"]["candidates"]}
    assert candidates["max-autotune"]["skipped"] == candidates["cuda-graphs"]["skipped"] == NO_CUDA
    assert candidates["bf16-input"]["with_ms"] > 0
    assert result["parts"]["candidates"]["bench"]["training"]["synthetic"]["profile"]["top"]
    by_name = {t["target"]: t for t in result["targets"]}
    assert len(by_name) == 8
    assert by_name["full-length run, wall time vs the planner's projection"]["met"] is None   # dry run
    # GPU targets are never judged without a GPU
    assert by_name["training step, share of the bf16 matmul rate"]["met"] is None
    assert by_name["host-data step vs resident"]["met"] is None
    assert by_name["feature extraction (decode + resample + front end), x real time"]["met"] is None
    assert by_name["paper-shape pipeline end to end"]["met"] is True
    summary = (out / "summary.txt").read_text()
    assert "DRY RUN" in summary and summary.count("(required") == 8
    assert "train_figure@fig3a" in capsys.readouterr().out


def test_a_spent_budget_skips_parts_and_still_reports(tmp_path):
    result = main(["--dry-run", "--out", str(tmp_path), "--budget", "0", "--parts", "bench,tests"])
    assert {p["status"] for p in result["parts"].values()} == {"not run: out of time"}
    assert all(t["met"] is None for t in result["targets"][:5])
    assert (tmp_path / "summary.txt").is_file()


def test_unknown_part_is_refused(tmp_path):
    with pytest.raises(SystemExit):
        main(["--dry-run", "--out", str(tmp_path), "--parts", "bench,nonsense"])


def test_fabricated_data_is_in_the_papers_formats(tmp_path):
    clips = fabricate_tut2018(tmp_path / "tut", scenes=2, train_cities=1, eval_cities=1, locations=1,
                              segments=2, seconds=0.5)
    info = sf.info(tmp_path / "tut" / clips[0].filename)
    assert (info.samplerate, info.channels, info.subtype) == (48000, 2, "PCM_24")
    data = read_tut2018(tmp_path / "tut")
    assert len(data.split("train")) == len(data.split("evaluate")) == 4
    classes = fabricate_audioset(tmp_path / "tables", tmp_path / "clips", classes=5, balanced_per_class=2,
                                 eval_per_class=1, unbalanced=10, seconds=0.5)
    assert [c.name for c in classes[:2]] == ["Speech", "Music"]
    segments = read_segments_csv(tmp_path / "tables" / "unbalanced_train_segments.csv")
    assert len(segments) == 10 and all(1 <= len(s.labels) <= 3 for s in segments)
    info = sf.info(tmp_path / "clips" / f"{segments[0].ytid}.wav")
    assert (info.samplerate, info.channels, info.subtype) == (32000, 1, "PCM_16")


def test_full_run_trains_every_step_through_the_store_and_meets_its_projection_math(tiny_params, tmp_path):
    from tools.gpu_check import full_run, project_full_run
    from aetasc.planning.cost import run_eval_clips, world_shapes
    shapes = world_shapes(tiny_params, "synthetic")
    sizes = dict(world="synthetic", asc_train=2 * tiny_params.batch.asc, asc_eval=6, aet_train=40, aet_val=5, epochs=2)
    timed = {"width": shapes.width, "input": [1, shapes.n_mels, shapes.frames],
             "batch": {"asc": tiny_params.batch.asc, "aet": tiny_params.batch.aet},
             "ms_per_step": 300.0, "eval_clips_per_second": 100.0, "compiled": False, "compile_seconds": 0.0}
    bench = {"date": "today", "device": {"name": "test"}, "training": {"synthetic": timed}}
    run = full_run(tiny_params, sizes, "cpu", tmp_path / "runs")
    run.update(project_full_run(run, bench))
    assert run["steps"] == 2 * 2 and run["epochs"] == 2
    assert len(list((tmp_path / "runs").glob("*/result.json"))) == 1 and not run["checkpoint_kept"]
    assert 0 < run["train_seconds"] < run["wall_seconds"]
    proj = run["projection"]["seconds"]
    assert proj["training"] == pytest.approx(4 * 0.3)                   # 4 joint steps at 300 ms
    # the paper's ASC evaluation fold (every 10th of 2,518 clips per epoch, then all) and the
    # run's 5 AET validation clips (all of them per epoch, then again), at 100 clips/s
    assert run_eval_clips(2, True, 5) == 2 * 252 + 2518 + 2 * 5 + 5
    assert proj["evaluation"] == pytest.approx(run_eval_clips(2, True, 5) / 100.0)
    assert run["projection_error"] == pytest.approx(run["wall_seconds"] / sum(proj.values()) - 1)
    assert run["gpu_peak_bytes"] is None and run["host_peak_bytes"] > 0
