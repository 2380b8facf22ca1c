import numpy as np
import pytest
import torch
import yaml

from aetasc.config import parse_params
from aetasc.data.synthetic import read_ground_truth
from aetasc.events import panns
from aetasc.events.ranking import (RankingError, load_tagger, precision_at, rank_classes, rank_events, read_ranking,
                           score_clips, score_scene_clips)
from conftest import REPO, run_stage


def test_rank_classes_orders_by_mean_score_and_breaks_ties_by_class_order():
    scores = np.array([[0.1, 0.9, 0.5, 0.5], [0.3, 0.7, 0.5, 0.5]])
    ranking = rank_classes(scores, ["a", "b", "c", "d"], ["A", "B", "C", "D"])
    assert [r.mid for r in ranking] == ["b", "c", "d", "a"]
    assert [r.rank for r in ranking] == [1, 2, 3, 4]
    assert ranking[0].score == pytest.approx(0.8)
    assert precision_at(ranking, {"b", "a"}, 2) == 0.5


def test_missing_or_foreign_tagger_checkpoint(tmp_path):
    x = torch.zeros(2, 8, 10)
    with pytest.raises(RankingError, match="tagger checkpoint not found"):
        score_clips(tmp_path / "nope.pt", x, ["a"])
    torch.save({"events": ["x", "y"], "model": {}}, tmp_path / "other.pt")
    with pytest.raises(RankingError, match="not the pool's 1 classes"):
        score_clips(tmp_path / "other.pt", x, ["a"])


@pytest.mark.slow
def test_ranking_finds_the_scene_events_of_the_synthetic_world(tmp_path):
    """On the synthetic world of params.yaml, the ranking puts the scene events on top.

    The AET training and eval pools play no part in the ranking, so they are shrunk (and the
    figures' T with them); the scenes, the events and the ranking pool are those of the real
    configuration.
    """
    raw = yaml.safe_load((REPO / "params.yaml").read_text())
    raw["worlds"]["synthetic"]["source"].update(unbalanced_clips=20, eval_clips_per_class=1)
    figures = raw["worlds"]["synthetic"]["figures"]
    for fig in ("fig2", "fig3a", "fig4", "fig5", "regularizers"):
        figures[fig]["hours"] = 0.005
    figures["fig3b"]["hours"] = [0.0025, 0.005]
    figures["sec41"]["hours"] = [0.0025, 0.005]
    (tmp_path / "params.yaml").write_text(yaml.safe_dump(raw))
    for script, *args in [("acquire_asc.py",), ("acquire_aet.py",), ("extract_features.py", "--set", "asc"),
                          ("extract_features.py", "--set", "ranking_pool")]:
        run_stage(tmp_path, script, *args)
    summary = rank_events(parse_params(raw), tmp_path / "data/asc", tmp_path / "data/aet",
                          tmp_path / "data/features/asc", tmp_path / "data/features/ranking_pool",
                          tmp_path, tmp_path / "runs", device="cpu")
    n = raw["worlds"]["synthetic"]["source"]["scene_events"]
    assert summary["scene_events"] == n
    assert summary["precision_at_scene_events"] >= 0.8, summary
    ranking = read_ranking(tmp_path / "ranking.csv")
    k = raw["worlds"]["synthetic"]["figures"]["fig3a"]["k"]
    truth = {m for m, present in read_ground_truth(tmp_path / "data/asc").items() if present}
    assert not {r.mid for r in ranking[-k:]} & truth        # the uncorrelated end: no scene event
    assert summary["tagger_lwlrap"] > 0.7


def test_cnn14_front_end_matches_librosa():
    import librosa
    rng = np.random.default_rng(0)
    wave = rng.standard_normal(32000).astype(np.float32) * 0.1
    model = panns.Cnn14(classes=3)
    ours = 10 * torch.log10(model.melspec(torch.from_numpy(wave)[None]).clamp(min=1e-10))[0].numpy()
    mel = librosa.feature.melspectrogram(y=wave, sr=32000, n_fft=1024, hop_length=320, win_length=1024,
                                         window="hann", center=True, pad_mode="reflect", power=2.0,
                                         n_mels=64, fmin=50, fmax=14000)
    ref = 10 * np.log10(np.maximum(mel, 1e-10))
    assert ours.shape == ref.shape
    assert np.abs(ours - ref).max() < 1e-2


def _panns_checkpoint(path, classes):
    """A checkpoint as PANNs releases them: {"model": state dict with its front-end buffers}."""
    torch.manual_seed(0)
    state = {k: v for k, v in panns.Cnn14(classes).state_dict().items() if not k.startswith("melspec.")}
    state["spectrogram_extractor.stft.conv_real.weight"] = torch.zeros(513, 1, 1024)
    state["logmel_extractor.melW"] = panns.Cnn14(1).melspec.fb.clone()     # its own filterbank is ours
    torch.save({"model": state, "iteration": 660000}, path)


@pytest.mark.slow
def test_a_panns_cnn14_checkpoint_ranks_the_scene_clips(tmp_path):
    import soundfile as sf
    from aetasc.data.tut2018 import SceneClip
    (tmp_path / "audio").mkdir()
    clips = []
    for i, sr in enumerate((48000, 44100)):          # CNN14 reads audio at 32 kHz itself
        sf.write(tmp_path / "audio" / f"c{i}.wav", np.random.default_rng(i).standard_normal(sr * 3) * 0.1, sr)
        clips.append(SceneClip(f"audio/c{i}.wav", "park", f"l{i}", "a", "train"))
    _panns_checkpoint(tmp_path / "cnn14.pth", classes=5)
    scores = score_scene_clips(tmp_path / "cnn14.pth", clips, tmp_path, None, [f"/m/{i}" for i in range(5)], "cpu")
    assert scores.shape == (2, 5) and ((scores > 0) & (scores < 1)).all()
    with pytest.raises(RankingError, match="CNN14 checkpoint with 5 classes, but the pool has 527"):
        score_scene_clips(tmp_path / "cnn14.pth", clips, tmp_path, None, [f"/m/{i}" for i in range(527)], "cpu")


def test_unloadable_checkpoints_name_the_file(tmp_path):
    (tmp_path / "junk.pth").write_bytes(b"not a checkpoint")
    with pytest.raises(RankingError, match="junk.pth: not a loadable checkpoint"):
        load_tagger(tmp_path / "junk.pth")
    torch.save([1, 2], tmp_path / "list.pth")
    with pytest.raises(RankingError, match="expected a dict with a 'model' state dict"):
        load_tagger(tmp_path / "list.pth")


def test_scoring_streams_batches_within_its_memory_bound(tmp_path):
    from numpy.lib import format as npy

    from aetasc.training.model import MultiTaskNet
    from aetasc.events.ranking import SCORING_BYTES, scoring_batch
    # the paper's shapes: 128 x 1001 inputs, width 64: batches of 32 clips stay within 1 GiB
    per_clip = 4 * (128 * 1001 + 4 * 64 * 64 * 501)
    assert scoring_batch(64, 128, 1001) == SCORING_BYTES // per_clip == 32
    assert scoring_batch(16, 64, 32) == 256            # the synthetic world: its old batches
    torch.manual_seed(0)
    net = MultiTaskNet(3, 4, width=4).eval()
    classes = [f"/m/{i}" for i in range(4)]
    torch.save({"model": net.state_dict(), "events": classes}, tmp_path / "tagger.pt")
    x = npy.open_memmap(tmp_path / "features.npy", mode="w+", dtype=np.float16, shape=(50, 16, 24))
    x[:] = np.random.default_rng(0).standard_normal(x.shape)
    rows = np.array([3, 1, 40, 41, 7, 20, 9])
    streamed = score_clips(tmp_path / "tagger.pt", x, classes, "cpu", rows=rows, batch=3)
    with torch.no_grad():
        whole = torch.sigmoid(net.aet_head(net.encoder(torch.from_numpy(x[rows]).float().unsqueeze(1)))).numpy()
    assert streamed.shape == (7, 4)
    np.testing.assert_allclose(streamed, whole, rtol=0, atol=1e-6)
    np.testing.assert_array_equal(score_clips(tmp_path / "tagger.pt", x, classes, "cpu", rows=rows, batch=256),
                                  score_clips(tmp_path / "tagger.pt", torch.from_numpy(x[rows]), classes, "cpu"))
