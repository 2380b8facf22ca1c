"""AudioSet clips from PANNs-style HDF5 packs, in the layout PANNs' own packer writes
(audioset_tagging_cnn, utils/dataset.py `pack_waveforms_to_hdf5`):

- `audio_name`: S20, `Y<id>.wav`; left empty (b"") for a clip whose file was missing;
- `waveform`: int16 (N, clip_samples), each clip resampled to the pack's rate and padded with
  zeros (or cut) to 10 s;
- `target`: bool (N, 527), not read here (labels come from the segment CSVs);
- `attrs["sample_rate"]`: the rate (PANNs' config makes 32 kHz; repacks at 16 kHz exist).
"""
from __future__ import annotations

from pathlib import Path

import numpy as np
import soundfile as sf

from aetasc.data.audioset import Segment
from aetasc.data.clip_names import parse_clip_name
from aetasc.data.source import KEY, SourceError
from aetasc.progress import bar as progress_bar

PANNS_SAMPLE_RATE = 32000       # the rate of a pack that does not state one (PANNs' config.py)
PANNS_CLIP_SECONDS = 10


def hdf5_packs(location: str) -> list[Path]:
    path = Path(location).expanduser()
    if path.is_file():
        return [path]
    packs = sorted(p for p in path.rglob("*") if p.suffix in (".h5", ".hdf5")) if path.is_dir() else []
    if not packs:
        raise SourceError(f"{KEY}.audioset_hdf5 = {location}: no .h5/.hdf5 file there")
    return packs


def require_h5py():
    try:
        import h5py
    except ImportError:
        raise SourceError(f"{KEY}.audioset_hdf5 needs h5py: pip install -e .[hdf5]") from None
    return h5py


def pack_rate(pack: Path, f) -> int:
    """The pack's sample rate: its own attribute, else PANNs' 32 kHz if its rows are 10 s at
    that rate; anything else is refused rather than played at a guessed speed."""
    waveform = f["waveform"]
    if "sample_rate" in f.attrs:
        rate = int(np.asarray(f.attrs["sample_rate"]).reshape(-1)[0])
        if rate <= 0:
            raise SourceError(f"{pack}: attribute 'sample_rate' is {rate}; a PANNs pack states its rate in Hz "
                              f"({KEY}.audioset_hdf5)")
        return rate
    if waveform.shape[1] == PANNS_CLIP_SECONDS * PANNS_SAMPLE_RATE:
        return PANNS_SAMPLE_RATE
    raise SourceError(f"{pack}: no 'sample_rate' attribute, and 'waveform' rows of {waveform.shape[1]} samples "
                      f"are not {PANNS_CLIP_SECONDS} s at PANNs' {PANNS_SAMPLE_RATE} Hz, so its rate is unknown; "
                      f"set the attribute (h5py: f.attrs['sample_rate'] = <Hz>) ({KEY}.audioset_hdf5)")


def check_layout(pack: Path, f) -> None:
    """The datasets a PANNs pack holds, with the types and shapes its packer gives them."""
    for key in ("audio_name", "waveform"):
        if key not in f:
            raise SourceError(f"{pack}: no dataset '{key}' (a PANNs pack holds audio_name, waveform, "
                              f"target; another kind of HDF5 file?) ({KEY}.audioset_hdf5)")
    names, waveform = f["audio_name"], f["waveform"]
    if waveform.dtype != np.int16 or waveform.ndim != 2:
        raise SourceError(f"{pack}: 'waveform' is {waveform.dtype} of shape {waveform.shape}, not int16 "
                          f"(clips, samples) as PANNs packs it; another packer's layout? ({KEY}.audioset_hdf5)")
    if names.ndim != 1 or names.dtype.kind not in "SO":
        raise SourceError(f"{pack}: 'audio_name' is {names.dtype} of shape {names.shape}, not one name "
                          f"per clip ({KEY}.audioset_hdf5)")
    if waveform.shape[0] != names.shape[0]:
        raise SourceError(f"{pack}: 'waveform' has {waveform.shape[0]} rows, 'audio_name' {names.shape[0]}: "
                          f"a pack cut short or assembled by hand ({KEY}.audioset_hdf5)")


def _ytid(name) -> str:
    """The id an audio_name holds ("" for the empty rows of clips PANNs could not find)."""
    text = name.decode(errors="replace") if isinstance(name, bytes) else str(name)
    return getattr(parse_clip_name(Path(text).stem), "ytid", "")


def write_from_hdf5(packs: tuple[Path, ...], wanted: dict[str, Segment], audio: Path,
                    progress: bool) -> dict[str, Path]:
    """Write the wanted clips of PANNs packs as 16-bit WAV at the pack's rate, each cut to its
    segment's length: PANNs pads every waveform with zeros to 10 s, and the clip is checked
    against its segment like any other (what is cut is the padding, which extraction pads
    back)."""
    h5py = require_h5py()
    written = {}
    for pack in packs:
        try:
            f = h5py.File(pack, "r")
        except OSError as err:
            raise SourceError(f"{pack}: not a readable HDF5 file ({err}); a pack copied only in part, or "
                              f"another kind of file ({KEY}.audioset_hdf5)") from None
        with f:
            check_layout(pack, f)
            rate = pack_rate(pack, f)
            names = [_ytid(n) for n in f["audio_name"][:]]
            for i, ytid in enumerate(progress_bar(names, desc=pack.name, disable=not progress, leave=False)):
                if ytid in wanted and ytid not in written:
                    path = audio / f"{ytid}.wav"
                    n = round(wanted[ytid].seconds * rate)
                    sf.write(path, f["waveform"][i][:n], rate, subtype="PCM_16")
                    written[ytid] = path
    return written
