import pytest

from aetasc.config import AUDIOSET_CLASSES, ParamsError, load_params, parse_params
from conftest import REPO


def test_repository_params_load():
    params = load_params(REPO / "params.yaml")
    assert params.world == "synthetic"
    assert params.active is params.worlds.synthetic


def test_paper_world_holds_the_papers_values():
    paper = load_params(REPO / "params.yaml").worlds.paper
    expected_alphas = [round(0.1 * i, 1) for i in range(9)] + [round(0.9 + 0.01 * i, 2) for i in range(11)]
    assert paper.figures.fig2.alphas == expected_alphas
    assert paper.seeds == [0, 1, 2, 3]
    assert (paper.figures.fig2.k, paper.figures.fig2.hours) == (35, 170)
    assert paper.figures.fig3a.strategies == ["random", "correlated", "uncorrelated"]
    assert (paper.figures.fig3a.k, paper.figures.fig3a.hours) == (35, 170)
    assert min(paper.figures.fig3b.hours) == 11 and max(paper.figures.fig3b.hours) == 360
    assert paper.figures.fig4.hours == 180
    assert min(paper.figures.fig4.ks) == 2 and max(paper.figures.fig4.ks) == 115
    params = load_params(REPO / "params.yaml")
    assert params.alpha == "auto"
    assert (params.batch.asc, params.batch.aet) == (64, 128)


def test_features_derive_frames(tiny_params):
    f = tiny_params.active.features
    assert f.clip_samples == 8000 and f.frames == 1 + 8000 // 256


INF = float("inf")
# Values that once slipped through: infinities, booleans and strings taken for numbers,
# repeated grid values, a clip shorter than its window, URLs nothing can fetch.
SLIPPED_THROUGH = [
    (["optimizer", "lr"], INF, "optimizer.lr"),
    (["worlds", "synthetic", "figures", "fig2", "hours"], INF, "fig2.hours"),
    (["worlds", "synthetic", "features", "clip_seconds"], INF, "features.clip_seconds"),
    (["worlds", "synthetic", "features", "log_offset"], INF, "features.log_offset"),
    (["augment", "mixup_alpha"], float("nan"), "augment.mixup_alpha"),
    (["worlds", "synthetic", "seeds"], [True, 0], "worlds.synthetic.seeds.0"),
    (["worlds", "synthetic", "epochs"], True, "worlds.synthetic.epochs"),
    (["worlds", "synthetic", "epochs"], "3", "worlds.synthetic.epochs"),
    (["augment", "mixup"], "yes", "augment.mixup"),
    (["worlds", "synthetic", "figures", "fig3b", "hours"], [0.1, 0.1, 0.2], "the T grid repeats 0.1"),
    (["worlds", "synthetic", "figures", "fig2", "alphas"], [0.0, 0.5, 0.5], "the alpha grid repeats 0.5"),
    (["worlds", "synthetic", "figures", "fig4", "ks"], [2, 3, 2], "the k grid repeats 2"),
    (["worlds", "synthetic", "figures", "fig3a", "strategies"], ["random", "random"], "strategy list repeats"),
    (["worlds", "synthetic", "features", "clip_seconds"], 0.01, "fewer than one analysis window"),
    (["worlds", "paper", "source", "tut2018_url"], "zenodo.org/record/1228142/files", "no scheme"),
    (["worlds", "paper", "source", "audioset_csv_url"], "s3://bucket/csv", "scheme 's3' is not supported"),
]


@pytest.mark.parametrize("path, value, fragment", [
    (["alpha"], 1.5, "alpha: must be a number in [0, 1] or 'auto'"),
    (["alpha"], -0.1, "alpha: must be a number in [0, 1]"),
    (["alpha"], "half", "alpha: must be a number in [0, 1]"),
    (["worlds", "synthetic", "seeds"], [], "worlds.synthetic.seeds"),
    (["worlds", "synthetic", "seeds"], [1, 1], "seeds must be distinct"),
    (["worlds", "synthetic", "figures", "fig3a", "strategies"], ["random", "clever"], "fig3a.strategies.1"),
    (["worlds", "synthetic", "figures", "fig2", "alphas"], [0.5, 1.2], "fig2.alphas.1"),
    (["worlds", "synthetic", "figures", "fig4", "ks"], [2, 0], "fig4.ks.1"),
    (["worlds", "synthetic", "figures", "fig3b", "hours"], [0.1, -1.0], "fig3b.hours.1"),
    (["batch", "asc"], 0, "batch.asc"),
    (["worlds", "synthetic", "source", "scene_event_snr_db"], [3.0, -6.0], "lower bound (3.0) exceeds"),
    (["worlds", "synthetic", "source", "scene_event_snr_db"], [0.0], "scene_event_snr_db"),
    (["max_rejected_share"], 1.0, "max_rejected_share"),
    (["stats", "level"], 0.0, "stats.level"),
    (["world"], "mars", "world"),
    (["worlds", "synthetic", "features", "fmax"], 9000.0, "Nyquist"),
    (["worlds", "synthetic", "features", "win_length"], 4096, "win_length"),
    (["worlds", "synthetic", "source", "evaluate_cities"], 3, "evaluate_cities"),
    (["augment", "dropout"], 1.0, "augment.dropout"),
    (["worlds", "synthetic", "epochs"], 3, "worlds.synthetic.epochs"),     # half of it can't be split in two
    (["worlds", "synthetic", "convergence", "study_epochs"], [2, 4, 6], "each budget must double"),
    (["worlds", "synthetic", "convergence", "study_epochs"], [1, 2], "study_epochs.0"),
    (["worlds", "synthetic", "convergence", "study_seeds"], 3, "study_seeds = 3 exceeds the 2 seeds"),
    (["worlds", "synthetic", "convergence", "tolerance"], 0.0, "convergence.tolerance"),
] + SLIPPED_THROUGH)
def test_bad_values_name_their_key(raw_params, path, value, fragment):
    node = raw_params
    for key in path[:-1]:
        node = node[key]
    node[path[-1]] = value
    with pytest.raises(ParamsError) as err:
        parse_params(raw_params)
    assert fragment in str(err.value)


def test_k_larger_than_the_number_of_classes(raw_params):
    raw_params["worlds"]["synthetic"]["figures"]["fig4"]["ks"] = [2, 9]   # tiny world: 8 events
    with pytest.raises(ParamsError, match=r"worlds.synthetic.figures.fig4.ks.1 = 9 exceeds .* \(8\)"):
        parse_params(raw_params)
    raw_params["worlds"]["synthetic"]["figures"]["fig4"]["ks"] = [2, 8]
    raw_params["worlds"]["paper"]["figures"]["fig2"]["k"] = AUDIOSET_CLASSES + 1
    with pytest.raises(ParamsError, match="worlds.paper.figures.fig2.k = 528"):
        parse_params(raw_params)


def test_unknown_and_missing_keys(raw_params):
    raw_params["batch"]["acs"] = 64
    del raw_params["optimizer"]["lr"]
    with pytest.raises(ParamsError) as err:
        parse_params(raw_params)
    assert "batch.acs: unknown key" in str(err.value)
    assert "optimizer.lr: required key is missing" in str(err.value)


def test_alpha_is_one_value_for_the_selected_world(raw_params):
    assert parse_params(raw_params).alpha == "auto"
    raw_params["alpha"] = 1                        # what `dvc exp run -S alpha=1` writes
    assert parse_params(raw_params).alpha == 1.0
    raw_params["alpha"] = {"synthetic": "auto", "paper": 0.95}      # the old per-world form
    with pytest.raises(ParamsError) as err:
        parse_params(raw_params)
    assert "alpha: must be a number in [0, 1] or 'auto'" in str(err.value)


def test_missing_and_malformed_files(tmp_path):
    with pytest.raises(ParamsError, match="no such file"):
        load_params(tmp_path / "nope.yaml")
    bad = tmp_path / "bad.yaml"
    bad.write_text("alpha: [unclosed\n")
    with pytest.raises(ParamsError, match="not valid YAML"):
        load_params(bad)
    bad.write_text("- a list\n")
    with pytest.raises(ParamsError, match="mapping at the top level"):
        load_params(bad)


def test_numbers_in_exponent_form_are_numbers_everywhere(tmp_path):
    """YAML 1.1 reads `1e-3` as a string; DVC (YAML 1.2) as a number. We read it as DVC does."""
    text = (REPO / "params.yaml").read_text()
    assert "  lr: 3.0e-3" in text and "\nalpha: auto\n" in text
    path = tmp_path / "params.yaml"
    path.write_text(text.replace("  lr: 3.0e-3", "  lr: 3e-3").replace("\nalpha: auto\n", "\nalpha: 95e-2\n"))
    params = load_params(path)
    assert params.optimizer.lr == 0.003 and params.alpha == 0.95
