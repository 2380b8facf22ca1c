"""Load and validate `params.yaml`.

One schema for every value of the pipeline. A bad value fails at load time with a
`ParamsError` that names the key (e.g. `worlds.synthetic.figures.fig4.ks.3`) and the
allowed range, so no stage starts on a configuration that would fail hours later.
"""
from __future__ import annotations

import re
from pathlib import Path
from typing import Annotated, Literal, Union
from urllib.parse import urlparse

import ruamel.yaml
import yaml
from pydantic import AfterValidator, BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator
from aetasc.errors import AetascError

# AudioSet's released label set; the paper's world cannot ask for more classes.
AUDIOSET_CLASSES = 527

Strategy = Literal["random", "correlated", "uncorrelated", "abundant"]
Fraction = Annotated[float, Field(ge=0.0, le=1.0)]
PositiveInt = Annotated[int, Field(gt=0)]
PositiveFloat = Annotated[float, Field(gt=0.0)]
Seed = Annotated[int, Field(ge=0)]


WORLDS = ("synthetic", "paper")


class ParamsError(AetascError, ValueError):
    """params.yaml holds a value outside what the pipeline accepts."""


class Strict(BaseModel):
    # Unknown keys are errors: a typo must not silently fall back to a default. Values are
    # taken as written: no true-as-1, no "3" as 3, no inf or nan.
    model_config = ConfigDict(extra="forbid", frozen=True, strict=True, allow_inf_nan=False)


def _spelling(v):
    """A grid value as subset ids and plot labels spell it (`{:g}`: 6 significant digits)."""
    return f"{v:g}" if isinstance(v, (int, float)) and not isinstance(v, bool) else v


def _distinct(values: list, what: str) -> list:
    """A grid lists each value once, as ids and labels spell it: a repeat would merge two grid
    points into one."""
    spelled = [_spelling(v) for v in values]
    seen = [(values[spelled.index(s)], v) for i, (s, v) in enumerate(zip(spelled, values)) if s in spelled[:i]]
    if seen:
        first, again = seen[0]
        same = "" if first == again else f" (as {again!r}, which ids and labels spell {_spelling(again)})"
        raise ValueError(f"{what} repeats {first!r}{same}; each value once")
    return values


def _spelled_exactly(v: float) -> float:
    """Subset ids and labels spell a T or alpha with 6 significant digits: a value they would
    round would share its id with another value."""
    if float(_spelling(v)) != v:
        raise ValueError(f"{v!r} would be spelled {_spelling(v)} in subset ids and plot labels; "
                         f"write it with at most 6 significant digits")
    return v


Hours = Annotated[float, Field(gt=0.0), AfterValidator(_spelled_exactly)]
GridAlpha = Annotated[float, Field(ge=0.0, le=1.0), AfterValidator(_spelled_exactly)]


class BatchParams(Strict):
    asc: PositiveInt
    aet: PositiveInt


class OptimizerParams(Strict):
    lr: PositiveFloat
    weight_decay: Annotated[float, Field(ge=0.0)]
    warmup_epochs: Annotated[float, Field(ge=0.0)]
    # after the warm-up (aetasc.training.trainer.lr_factor): inverse_sqrt (1 / sqrt(step)),
    # cosine (to zero at the budget), wsd (constant, then a cooldown to zero over the last
    # cooldown_fraction of the budget)
    schedule: Literal["inverse_sqrt", "cosine", "wsd"]
    cooldown_fraction: Annotated[float, Field(gt=0.0, le=1.0)]
    average_epochs: Annotated[float, Field(ge=0.0)]   # time constant of the weights' moving
                                                      # average that is evaluated; 0 = none


class AugmentParams(Strict):
    specaugment: bool
    freq_mask_fraction: Fraction
    time_mask_fraction: Fraction
    masks: Annotated[int, Field(ge=1, le=8)]
    mixup: bool
    mixup_alpha: PositiveFloat
    dropout: Annotated[float, Field(ge=0.0, lt=1.0)]


class FeatureParams(Strict):
    sample_rate: Annotated[int, Field(ge=8000, le=192000)]
    clip_seconds: PositiveFloat
    n_fft: Annotated[int, Field(ge=16)]
    win_length: Annotated[int, Field(ge=16)]
    hop_length: PositiveInt
    n_mels: Annotated[int, Field(ge=8, le=512)]
    fmin: Annotated[float, Field(ge=0.0)]
    fmax: PositiveFloat
    log_offset: PositiveFloat

    @model_validator(mode="after")
    def _consistent(self) -> "FeatureParams":
        if self.win_length > self.n_fft:
            raise ValueError(f"win_length ({self.win_length}) must not exceed n_fft ({self.n_fft})")
        if self.fmax > self.sample_rate / 2:
            raise ValueError(f"fmax ({self.fmax}) must not exceed the Nyquist frequency "
                             f"sample_rate / 2 = {self.sample_rate / 2}")
        if self.fmin >= self.fmax:
            raise ValueError(f"fmin ({self.fmin}) must be below fmax ({self.fmax})")
        if self.clip_samples < self.n_fft:
            raise ValueError(f"clip_seconds ({self.clip_seconds}) gives {self.clip_samples} samples, "
                             f"fewer than one analysis window (n_fft = {self.n_fft})")
        return self

    @property
    def clip_samples(self) -> int:
        return int(round(self.clip_seconds * self.sample_rate))

    @property
    def frames(self) -> int:
        # torch.stft with center=True gives 1 + floor(samples / hop) frames.
        return 1 + self.clip_samples // self.hop_length


class StatsParams(Strict):
    """How the claims report decides (figures/REPORT.md states each rule)."""
    level: Annotated[float, Field(gt=0.0, lt=0.5)]
    power: Annotated[float, Field(gt=0.5, lt=1.0)]
    equivalence_margin: Annotated[float, Field(gt=0.0, lt=1.0)]
    reference_effect: Annotated[float, Field(gt=0.0, lt=1.0)]


class ModelParams(Strict):
    width: Annotated[int, Field(ge=4, le=256)]


class RankingParams(Strict):
    tagger_checkpoint: str | None
    tagger_epochs: PositiveInt
    validation_fraction: Annotated[float, Field(gt=0.0, lt=1.0)]


class Fig2Params(Strict):
    strategy: Strategy
    k: PositiveInt
    hours: Hours
    alphas: Annotated[list[GridAlpha], Field(min_length=1)]

    _distinct_alphas = field_validator("alphas")(lambda cls, v: _distinct(v, "the alpha grid"))


class Fig3aParams(Strict):
    strategies: Annotated[list[Strategy], Field(min_length=1)]
    k: PositiveInt
    hours: Hours

    _distinct_strategies = field_validator("strategies")(lambda cls, v: _distinct(v, "the strategy list"))


class Fig3bParams(Strict):
    strategy: Strategy
    k: PositiveInt
    hours: Annotated[list[Hours], Field(min_length=2)]

    _distinct_hours = field_validator("hours")(lambda cls, v: _distinct(v, "the T grid"))


class Fig4Params(Strict):
    strategy: Strategy
    hours: Hours
    ks: Annotated[list[PositiveInt], Field(min_length=2)]

    _distinct_ks = field_validator("ks")(lambda cls, v: _distinct(v, "the k grid"))


class Fig5Params(Strict):
    strategy: Strategy
    k: PositiveInt
    hours: Hours


class RegularizerParams(Strict):
    strategy: Strategy
    k: PositiveInt
    hours: Hours
    dropout: Annotated[float, Field(gt=0.0, lt=1.0)]


class Sec41Params(Strict):
    """Sec. 4.1's repeat of the alpha sweep on AET data sets of several sizes."""
    strategy: Strategy
    k: PositiveInt
    hours: Annotated[list[Hours], Field(min_length=1)]
    alphas: Annotated[list[GridAlpha], Field(min_length=1)]

    _distinct_hours = field_validator("hours")(lambda cls, v: _distinct(v, "the T grid"))
    _distinct_alphas = field_validator("alphas")(lambda cls, v: _distinct(v, "the alpha grid"))


class FigureParams(Strict):
    fig2: Fig2Params
    fig3a: Fig3aParams
    fig3b: Fig3bParams
    fig4: Fig4Params
    fig5: Fig5Params
    regularizers: RegularizerParams
    sec41: Sec41Params

    def ks(self) -> list[tuple[str, int]]:
        """Every (key, k) the figures ask for, to check against the number of classes."""
        out = [("fig2.k", self.fig2.k), ("fig3a.k", self.fig3a.k), ("fig3b.k", self.fig3b.k),
               ("fig5.k", self.fig5.k), ("regularizers.k", self.regularizers.k), ("sec41.k", self.sec41.k)]
        out += [(f"fig4.ks.{i}", k) for i, k in enumerate(self.fig4.ks)]
        return out

    def hours(self) -> list[tuple[str, float]]:
        """Every (key, T) the figures ask for, to check against the event pool."""
        out = [("fig2.hours", self.fig2.hours), ("fig3a.hours", self.fig3a.hours),
               ("fig4.hours", self.fig4.hours), ("fig5.hours", self.fig5.hours),
               ("regularizers.hours", self.regularizers.hours)]
        out += [(f"sec41.hours.{i}", h) for i, h in enumerate(self.sec41.hours)]
        return out + [(f"fig3b.hours.{i}", h) for i, h in enumerate(self.fig3b.hours)]


class GeneratorParams(Strict):
    """Size and difficulty of the synthetic acoustic world (aetasc.data.synthetic)."""
    seed: Seed
    sample_rate: Annotated[int, Field(ge=8000, le=48000)]
    clip_seconds: Annotated[float, Field(ge=0.5, le=30.0)]
    scenes: Annotated[int, Field(ge=2, le=50)]
    cities: Annotated[int, Field(ge=2, le=50)]
    locations_per_city: PositiveInt
    segments_per_location: PositiveInt
    evaluate_cities: PositiveInt
    events: Annotated[int, Field(ge=4, le=1000)]
    scene_events: Annotated[int, Field(ge=2)]
    events_per_scene: PositiveInt
    scene_similarity: Annotated[float, Field(ge=0.0, le=1.0)]
    scene_event_snr_db: Annotated[list[Annotated[float, Field(ge=-40.0, le=40.0)]],
                                  Field(min_length=2, max_length=2)]
    location_variation_db: Annotated[float, Field(ge=0.0, le=40.0)]
    city_variation_db: Annotated[float, Field(ge=0.0, le=40.0)]
    balanced_clips_per_class: PositiveInt
    eval_clips_per_class: PositiveInt
    unbalanced_clips: PositiveInt

    @model_validator(mode="after")
    def _consistent(self) -> "GeneratorParams":
        if self.evaluate_cities >= self.cities:
            raise ValueError(f"evaluate_cities ({self.evaluate_cities}) must leave at least one "
                             f"training city (cities = {self.cities})")
        if self.scene_events > self.events - 2:
            raise ValueError(f"scene_events ({self.scene_events}) must leave at least two events "
                             f"that never occur in scenes (events = {self.events})")
        if self.events_per_scene > self.scene_events:
            raise ValueError(f"events_per_scene ({self.events_per_scene}) must not exceed "
                             f"scene_events ({self.scene_events})")
        lo, hi = self.scene_event_snr_db
        if lo > hi:
            raise ValueError(f"scene_event_snr_db: the lower bound ({lo}) exceeds the upper ({hi})")
        return self


class PaperSources(Strict):
    """Where the paper's world finds its data (aetasc.data.tut2018_source and
    aetasc.data.audioset_source acquire it)."""
    download_dir: str                  # downloads kept between runs: resumed, never fetched twice
    download_attempts: PositiveInt
    download_backoff_seconds: Annotated[float, Field(ge=0.0)]   # first retry delay; doubles
    tut2018_url: str                   # base URL of the zips (http(s):// or file://)
    tut2018_files: str | None          # TSV filename/bytes/md5; null = the packaged list
    tut2018_dir: str | None            # local zips or extracted data set, instead of tut2018_url
    audioset_csv_url: str              # base URL of the segment CSVs and class_labels_indices.csv
    audioset_ontology_url: str
    audioset_clips_dir: str | None
    audioset_hdf5: str | None
    audioset_hf: str | None            # a Hugging Face mirror (repo id) or a folder of its shards
    audioset_hf_revision: str | None   # the repo's commit (40 hex digits); required with a repo id
    ytdlp: bool
    ytdlp_interval_seconds: Annotated[float, Field(ge=0.0)]   # between two clip fetches
    ytdlp_max_per_hour: PositiveInt    # fetches started in any hour
    ytdlp_cookies: str | None          # a Netscape cookies.txt passed to yt-dlp
    min_sample_rate: PositiveInt | None   # null: 2 x features.fmax; lower only on purpose

    @field_validator("tut2018_url", "audioset_csv_url", "audioset_ontology_url")
    @classmethod
    def _fetchable(cls, url: str) -> str:
        scheme = urlparse(url).scheme
        if scheme not in ("http", "https", "file"):
            raise ValueError("must be an http://, https:// or file:// URL"
                             + (f" (scheme {scheme!r} is not supported)" if scheme else " (no scheme)"))
        return url


class ConvergenceParams(Strict):
    """The training budget's criterion and the learning-curve study that chooses it."""
    tolerance: Annotated[float, Field(gt=0.0, lt=1.0)]   # largest mean gain of a doubled budget at the plateau
    study_epochs: Annotated[list[Annotated[int, Field(ge=2)]], Field(min_length=2)]
    study_seeds: PositiveInt                              # the first n of the world's seeds

    @field_validator("study_epochs")
    @classmethod
    def _doubling(cls, v: list[int]) -> list[int]:
        # the criterion compares each budget with its half: the half must be in the study
        if any(b != 2 * a for a, b in zip(v, v[1:])):
            raise ValueError(f"each budget must double the one before it, got {v}")
        return v


class WorldCommon(Strict):
    seeds: Annotated[list[Seed], Field(min_length=1)]    # training: initialization, batches, augmentation
    data_seed: Seed                                      # the AET data: class draws, clip order
    # every run is also evaluated at half the budget, and pre-training + fine-tuning splits
    # that half in two: at least one epoch each
    epochs: Annotated[int, Field(ge=4)]
    convergence: ConvergenceParams
    model: ModelParams
    features: FeatureParams
    ranking: RankingParams
    figures: FigureParams

    @model_validator(mode="after")
    def _unique_seeds(self):
        if len(set(self.seeds)) != len(self.seeds):
            raise ValueError(f"seeds must be distinct, got {self.seeds}")
        if self.convergence.study_seeds > len(self.seeds):
            raise ValueError(f"convergence.study_seeds = {self.convergence.study_seeds} exceeds the "
                             f"{len(self.seeds)} seeds")
        return self


class SyntheticWorld(WorldCommon):
    source: GeneratorParams           # generated on the spot

    @property
    def n_event_classes(self) -> int:
        return self.source.events


class PaperWorld(WorldCommon):
    source: PaperSources              # downloaded or imported

    @property
    def min_sample_rate(self) -> float:
        """AudioSet clips sampled below this are refused: 2 x fmax, the rate that carries the
        front end's top mel band, unless source.min_sample_rate lowers it on purpose."""
        if self.source.min_sample_rate is not None:
            return float(self.source.min_sample_rate)
        return 2 * self.features.fmax

    @property
    def n_event_classes(self) -> int:
        return AUDIOSET_CLASSES


class Worlds(Strict):
    synthetic: SyntheticWorld
    paper: PaperWorld


class Params(Strict):
    world: Literal[WORLDS]
    alpha: Union[float, str]
    batch: BatchParams
    optimizer: OptimizerParams
    augment: AugmentParams
    max_rejected_share: Annotated[float, Field(ge=0.0, lt=1.0)]
    threads: PositiveInt
    stats: StatsParams
    worlds: Worlds

    @field_validator("alpha", mode="before")
    @classmethod
    def _alpha_in_range(cls, value):
        if value == "auto":
            return value
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0.0 <= value <= 1.0:
            raise ValueError("must be a number in [0, 1] or 'auto'")
        return float(value)

    @model_validator(mode="after")
    def _k_within_classes(self) -> "Params":
        for name in ("synthetic", "paper"):
            world = getattr(self.worlds, name)
            n = world.n_event_classes
            for key, k in world.figures.ks():
                if k > n:
                    raise ValueError(f"worlds.{name}.figures.{key} = {k} exceeds the number of "
                                     f"event classes ({n}); allowed: 1..{n}")
        return self

    @property
    def active(self) -> SyntheticWorld | PaperWorld:
        """The world selected by `world`."""
        return getattr(self.worlds, self.world)


def _format_errors(err: ValidationError, source: str) -> str:
    lines = [f"{source}: {err.error_count()} invalid value(s)"]
    for e in err.errors():
        key = ".".join(str(p) for p in e["loc"]) or "(top level)"
        msg = e["msg"].removeprefix("Value error, ")
        if e["type"] == "extra_forbidden":
            msg = "unknown key (misspelled?)"
        elif e["type"] == "missing":
            msg = "required key is missing"
        elif not isinstance(e.get("input"), dict):
            msg += f" (got {e.get('input')!r})"
        lines.append(f"  {key}: {msg}")
    return "\n".join(lines)


def parse_params(raw: dict, source: str = "params") -> Params:
    """Validate a params mapping; raise ParamsError naming every bad key."""
    if not isinstance(raw, dict):
        raise ParamsError(f"{source}: expected a mapping at the top level, got {type(raw).__name__}")
    try:
        return Params.model_validate(raw)
    except ValidationError as err:
        raise ParamsError(_format_errors(err, source)) from None


class YAML11Loader(yaml.SafeLoader):
    """YAML 1.1 as PyYAML reads it (with 1.2's `1e-3` as a float): only to find the values the
    two YAML versions read differently, which a person editing params.yaml may mean either way."""


YAML11Loader.add_implicit_resolver(
    "tag:yaml.org,2002:float",
    re.compile(r"""^(?:[-+]?(?:[0-9][0-9_]*)\.[0-9_]*(?:[eE][-+]?[0-9]+)?
                  |[-+]?(?:[0-9][0-9_]*)(?:[eE][-+]?[0-9]+)
                  |\.[0-9_]+(?:[eE][-+]?[0-9]+)?
                  |[-+]?\.(?:inf|Inf|INF)
                  |\.(?:nan|NaN|NAN))$""", re.X),
    list("-+0123456789."))


def _disagreements(a, b, key: str = ""):
    """(key, value read as YAML 1.2, value read as YAML 1.1) wherever the two readings differ."""
    if type(a) is not type(b):
        yield key, a, b
    elif isinstance(a, dict):
        if list(a) != list(b):
            yield f"{key} (its keys)" if key else "(the top-level keys)", list(a), list(b)
        else:
            for k in a:
                yield from _disagreements(a[k], b[k], f"{key}.{k}" if key else str(k))
    elif isinstance(a, list):
        if len(a) != len(b):
            yield key, a, b
        else:
            for i, (x, y) in enumerate(zip(a, b)):
                yield from _disagreements(x, y, f"{key}.{i}")
    elif a != b and not (isinstance(a, float) and a != a and b != b):
        yield key, a, b


def read_yaml(text: str, source: str = "params.yaml"):
    """params.yaml exactly as DVC reads it (ruamel.yaml, YAML 1.2: `010` is 10, `1:40` a string,
    `yes` a string), so `dvc params diff` and `dvc exp show` record the values the pipeline
    used. A value that YAML 1.1 (PyYAML, many editors) reads differently is refused with its
    key: whoever wrote `010` or `on` may have meant either."""
    try:
        value = ruamel.yaml.YAML(typ="safe").load(text)
    except ruamel.yaml.YAMLError as err:
        raise ParamsError(f"{source}: not valid YAML: {err}") from None
    try:
        other = yaml.load(text, Loader=YAML11Loader)
    except yaml.YAMLError:
        other = value                  # 1.2 reads it and 1.1 cannot: nothing to be mistaken for
    bad = list(_disagreements(value, other))
    if bad:
        raise ParamsError(f"{source}: values YAML 1.2 (as DVC reads params) and YAML 1.1 read "
                          f"differently; write them unambiguously (quote a string, no leading zeros, "
                          f"true/false for booleans):\n" + "\n".join(
                              f"  {key}: read as {v12!r} (YAML 1.2, used) or {v11!r} (YAML 1.1)"
                              for key, v12, v11 in bad))
    return value


def load_params(path: str | Path = "params.yaml") -> Params:
    path = Path(path)
    if not path.is_file():
        raise ParamsError(f"{path}: no such file (run from the repository root)")
    return parse_params(read_yaml(path.read_text(), str(path)), str(path))
