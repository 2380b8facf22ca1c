"""The released CNN14 checkpoint as PANNs' training script saves it: {'iteration', 'model',
'sampler'}, the balanced sampler's state holding numpy index arrays."""
import numpy as np
import pytest
import torch

from aetasc.events import panns
from aetasc.events.ranking import RankingError, load_tagger


def _panns_training_checkpoint(path, legacy_numpy: bool):
    """As PANNs' main.py saves it: {'iteration', 'model', 'sampler': BalancedTrainSampler's
    state_dict()}: indexes_per_class from np.where (int64 arrays), queue and pointers as ints.
    legacy_numpy: written as numpy 1 wrote it (the released files): the legacy torch format
    with numpy.core in the pickle."""
    torch.manual_seed(0)
    state = {k: v for k, v in panns.Cnn14(5).state_dict().items() if not k.startswith("melspec.")}
    state["logmel_extractor.melW"] = panns.Cnn14(1).melspec.fb.clone()     # its own filterbank is ours
    targets = np.random.default_rng(0).random((40, 5)) < 0.3
    sampler = {"indexes_per_class": [np.where(targets[:, k])[0] for k in range(5)],
               "queue": [3, 1, 4], "pointers_of_classes": [0] * 5}
    checkpoint = {"iteration": 660000, "model": state, "sampler": sampler}
    if not legacy_numpy:
        torch.save(checkpoint, path)
        return checkpoint
    torch.save(checkpoint, path, _use_new_zipfile_serialization=False)
    raw = path.read_bytes()
    assert raw.count(b"numpy._core.multiarray") == 1     # numpy 2 writes the new spelling
    # the pickle's GLOBAL opcode is text without a length: the old spelling drops in
    path.write_bytes(raw.replace(b"numpy._core.multiarray", b"numpy.core.multiarray"))
    return checkpoint


@pytest.mark.parametrize("legacy_numpy", [False, True], ids=["numpy._core", "numpy.core"])
def test_the_released_cnn14_checkpoint_loads_with_weights_only(tmp_path, legacy_numpy):
    path = tmp_path / "Cnn14_mAP=0.431.pth"
    written = _panns_training_checkpoint(path, legacy_numpy)
    with pytest.raises(Exception, match="Weights only load failed"):
        torch.load(path, weights_only=True)             # what the ranking stage did before
    ckpt = load_tagger(path)
    assert set(ckpt) == {"iteration", "model", "sampler"} and ckpt["iteration"] == 660000
    for got, want in zip(ckpt["sampler"]["indexes_per_class"], written["sampler"]["indexes_per_class"]):
        np.testing.assert_array_equal(got, want)
    model = panns.load_cnn14(ckpt["model"], path, n_classes=5)
    torch.testing.assert_close(model.fc_audioset.weight, written["model"]["fc_audioset.weight"])


def test_other_globals_stay_refused(tmp_path):
    """Only what integer index arrays need is allowed: a float array (another dtype class) or
    any other class still fails, naming the file."""
    path = tmp_path / "other.pth"
    torch.save({"model": {"w": torch.zeros(1)}, "sampler": {"x": np.zeros(3)}}, path)
    with pytest.raises(RankingError, match="(?s)other.pth: not a loadable checkpoint.*Float64DType"):
        load_tagger(path)


# The CNN14 variants PANNs releases with the same weight keys and shapes as Cnn14_mAP=0.431.pth
# (PANNs' pytorch/models.py): Cnn14_16k computes its front end from 16 kHz audio
# (window 512, hop 160, 64 mels, fmax 8000); the decision-level models pool frame-wise
# outputs (Max, Avg) or carry an attention head (Att) instead of fc_audioset.
def _released_state(sample_rate=32000, window=1024, fmax=14000, head="fc_audioset"):
    """The state dict as PANNs saves it (torchlibrosa's front-end buffers included). Each
    network weight is one number expanded to its shape: the right keys and shapes, a tiny file."""
    import librosa
    with torch.device("meta"):
        shapes = {k: v.shape for k, v in panns.Cnn14(5).state_dict().items() if not k.startswith("melspec.")}
    state = {k: torch.full((), 0.01).expand(s) for k, s in shapes.items()}
    if head == "att_block":         # Cnn14_DecisionLevelAtt: AttBlock(2048, classes) as att and cla
        del state["fc_audioset.weight"], state["fc_audioset.bias"]
        for part in ("att", "cla"):
            state[f"att_block.{part}.weight"] = torch.zeros(5, 2048, 1)
            state[f"att_block.{part}.bias"] = torch.zeros(5)
    bins = window // 2 + 1
    for part in ("real", "imag"):
        state[f"spectrogram_extractor.stft.conv_{part}.weight"] = torch.zeros(bins, 1, window)
    state["logmel_extractor.melW"] = torch.from_numpy(
        librosa.filters.mel(sr=sample_rate, n_fft=window, n_mels=64, fmin=50, fmax=fmax).T.copy())
    return state


def test_the_32khz_cnn14_with_its_own_front_end_loads(tmp_path):
    path = tmp_path / "Cnn14_mAP=0.431.pth"
    torch.save({"model": _released_state(), "iteration": 660000}, path)
    model = panns.load_cnn14(load_tagger(path)["model"], path, n_classes=5)
    assert float(model.fc1.weight.detach()[0, 0]) == pytest.approx(0.01)


def test_the_16khz_cnn14_is_refused(tmp_path):
    """Cnn14_16k_mAP=0.438.pth (same Zenodo record) loaded before and was scored with our
    32 kHz front end."""
    path = tmp_path / "Cnn14_16k_mAP=0.438.pth"
    torch.save({"model": _released_state(16000, 512, 8000), "iteration": 660000}, path)
    with pytest.raises(panns.Cnn14Error, match=r"(?s)Cnn14_16k_mAP=0.438.pth: .*16 kHz.*Cnn14_mAP=0.431.pth.*3987831"):
        panns.load_cnn14(load_tagger(path)["model"], path, n_classes=5)


def test_a_cnn14_with_another_mel_filterbank_is_refused(tmp_path):
    """Same shapes (n_fft 1024, 64 mels) but another fmax: the filterbank is compared too."""
    path = tmp_path / "renamed.pth"
    torch.save({"model": _released_state(32000, 1024, 16000)}, path)
    with pytest.raises(panns.Cnn14Error, match=r"renamed.pth: .*mel filterbank"):
        panns.load_cnn14(load_tagger(path)["model"], path, n_classes=5)


@pytest.mark.parametrize("name", ["Cnn14_DecisionLevelMax_mAP=0.385.pth", "Cnn14_DecisionLevelAvg.pth",
                                  "Cnn14_DecisionLevelAtt.pth"])
def test_the_decision_level_cnn14s_are_refused(tmp_path, name):
    """Max and Avg have Cnn14's keys and shapes exactly: only their file name tells them;
    Att has an attention head, which ranking did not take for a CNN14 at all."""
    path = tmp_path / name
    head = "att_block" if "Att" in name else "fc_audioset"
    torch.save({"model": _released_state(head=head)}, path)
    state = load_tagger(path)["model"]
    assert panns.is_cnn14(state)
    with pytest.raises(panns.Cnn14Error, match=rf"(?s){name}: .*decision-level.*Cnn14_mAP=0.431.pth.*3987831"):
        panns.load_cnn14(state, path, n_classes=5)


def test_a_cnn14_without_front_end_weights_is_refused(tmp_path):
    path = tmp_path / "stripped.pth"
    state = {k: v for k, v in _released_state().items() if not k.startswith(panns.FRONT_END_KEYS)}
    with pytest.raises(panns.Cnn14Error, match=r"stripped.pth: .*no front-end weights"):
        panns.load_cnn14(state, path, n_classes=5)
