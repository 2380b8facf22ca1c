"""The prepared GPU check, in its dry-run form: the same parts, tiny, on the CPU."""
import json

import pytest
import soundfile as sf

from aetasc.data.fabricated import fabricate_audioset, fabricate_tut2018
from aetasc.data.audioset import read_segments_csv
from aetasc.data.tut2018 import read_tut2018
from aetasc.gpu_check import PIPELINE, main


@pytest.mark.slow
def test_dry_run_runs_every_part_and_judges_every_target(tmp_path, capsys):
    out = tmp_path / "out"
    result = main(["--dry-run", "--out", str(out), "--work", str(tmp_path / "work")])
    assert json.loads((out / "gpu_check.json").read_text()) == json.loads(json.dumps(result))
    assert {name: part["status"] for name, part in result["parts"].items()} == dict.fromkeys(
        ("bench", "tests", "pipeline"), "ok")
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
    by_name = {t["target"]: t for t in result["targets"]}
    assert len(by_name) == 7
    # GPU targets are never judged without a GPU
    assert by_name["training step, share of the bf16 matmul rate"]["met"] is None
    assert by_name["host-data step vs resident"]["met"] is None
    assert by_name["feature extraction (decode + resample + front end), x real time"]["met"] is None
    assert by_name["paper-shape pipeline end to end"]["met"] is True
    summary = (out / "summary.txt").read_text()
    assert "DRY RUN" in summary and summary.count("(required") == 7
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
