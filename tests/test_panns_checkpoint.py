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
    state["logmel_extractor.melW"] = torch.zeros(513, 64)
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
