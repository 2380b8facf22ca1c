"""Rank event classes by how likely they occur in the scene clips (Sec. 4.2 of the paper).

The paper scored the scene clips with a proprietary tagger. Ours is the AET baseline model
trained on the ranking pool (AudioSet's balanced training set: every class, a few dozen
clips each) or a user-supplied checkpoint of the same model. It scores every ASC training
clip on every class; a class's score is its mean sigmoid output over those clips, and the
classes are ranked by it, most likely present first.
"""
from __future__ import annotations

import csv
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from aetasc.events import panns
from aetasc.data.audioset import read_audioset
from aetasc.data.synthetic import read_ground_truth
from aetasc.data.tut2018 import read_tut2018
from aetasc.features.extraction import open_features
from aetasc.training.identity import digest
from aetasc.training.model import MultiTaskNet
from aetasc.events.subsets import check_pool_hours
from aetasc.training.checkpoints import CHECKPOINT
from aetasc.training.spec import RunData, RunSpec, Task, multi_hot
from aetasc.training.store import RESULT
from aetasc.training.trainer import resolve_device, train_run
from aetasc.errors import AetascError


class RankingError(AetascError, ValueError):
    """The tagger or its checkpoint cannot rank this pool's classes."""


@dataclass(frozen=True)
class RankedClass:
    rank: int
    index: int
    mid: str
    name: str
    score: float


def split_pool(n: int, validation_fraction: float, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Fixed train / validation rows of the ranking pool."""
    order = np.random.default_rng(seed).permutation(n)
    n_val = max(1, int(round(validation_fraction * n)))
    return np.sort(order[n_val:]), np.sort(order[:n_val])


def train_tagger(spec: RunSpec, pool_x: torch.Tensor, pool_y: torch.Tensor, classes: list[str],
                 validation_fraction: float, run_dir: Path, device=None) -> dict:
    """The AET baseline on every class of the pool; returns its result (lwlrap on held-out pool clips)."""
    train, val = split_pool(len(pool_x), validation_fraction, spec.seed)
    data = RunData(scenes=(), events=tuple(classes), asc_train=None, asc_eval=None,
                   aet_train=Task(pool_x[train], pool_y[train]), aet_val=Task(pool_x[val], pool_y[val]))
    return train_run(spec, data, run_dir, device=device, keep_checkpoint=True, label="ranking tagger")


def load_tagger(path: Path) -> dict:
    """A tagger checkpoint, loaded with weights_only=True; errors name the file."""
    path = Path(path)
    if not path.is_file():
        raise RankingError(f"{path}: tagger checkpoint not found "
                           f"(set ranking.tagger_checkpoint to null to train one)")
    try:
        ckpt = panns.load_checkpoint(path)
    except Exception as err:  # a pickle needing code, a truncated file, ...: say which file
        raise RankingError(f"{path}: not a loadable checkpoint (weights_only=True): {err}") from None
    if not isinstance(ckpt, dict) or not isinstance(ckpt.get("model"), dict):
        raise RankingError(f"{path}: expected a dict with a 'model' state dict "
                           f"(this project's tagger or PANNs' CNN14)")
    return ckpt


# The scoring's memory: features and activations of one batch stay within SCORING_BYTES. The
# largest activation of the encoder is the stem's output, width x mels/2 x frames/2 floats per
# clip; SCORING_LIVE_MAPS of those (input, output and a residual of a block) are alive at once.
SCORING_BYTES = 2**30
SCORING_LIVE_MAPS = 4
SCORING_MAX_BATCH = 256


def scoring_batch(width: int, n_mels: int, frames: int, budget: int = SCORING_BYTES) -> int:
    """Clips per scoring batch so that one batch's features and activations (float32) stay
    within `budget` bytes; at most SCORING_MAX_BATCH (the synthetic world's scores are computed
    in these batches)."""
    per_clip = 4 * (n_mels * frames + SCORING_LIVE_MAPS * width * -(-n_mels // 2) * -(-frames // 2))
    return max(1, min(SCORING_MAX_BATCH, budget // per_clip))


@torch.no_grad()
def score_clips(checkpoint: Path, x, classes: list[str], device=None, rows=None,
                ckpt: dict | None = None, batch: int | None = None) -> np.ndarray:
    """Sigmoid scores (clips, classes) of this project's tagger on features (clips, mels, frames).

    `x` is a tensor or an array, e.g. a memory-mapped features.npy: only its `rows` (default:
    all) are scored, gathered one batch at a time, so host and device memory hold one batch
    (scoring_batch: within SCORING_BYTES) and the scores, whatever the number of clips.
    `ckpt` is the checkpoint already loaded from `checkpoint`, if the caller has it."""
    ckpt = ckpt if ckpt is not None else load_tagger(checkpoint)
    if list(ckpt.get("events", [])) != list(classes):
        raise RankingError(f"{checkpoint}: the tagger's classes ({len(ckpt.get('events', []))}) are not "
                           f"the pool's {len(classes)} classes in class_labels_indices order")
    state = ckpt["model"]
    try:
        width = int(state["encoder.stem.0.weight"].shape[0])
        model = MultiTaskNet(n_scenes=state["asc_head.weight"].shape[0], n_events=len(classes), width=width)
        model.load_state_dict(state)
    except (KeyError, RuntimeError) as err:
        raise RankingError(f"{checkpoint}: not a tagger of this project's architecture: {err}") from None
    device = resolve_device(device)
    model.to(device).eval()
    rows = np.arange(len(x)) if rows is None else np.asarray(rows)
    batch = batch or scoring_batch(width, *x.shape[1:])
    out = np.empty((len(rows), len(classes)), dtype=np.float32)
    for i in range(0, len(rows), batch):
        part = x[rows[i:i + batch]]
        part = torch.from_numpy(np.ascontiguousarray(part)) if isinstance(part, np.ndarray) else part
        xb = part.to(device).float().unsqueeze(1)
        out[i:i + len(xb)] = torch.sigmoid(model.aet_head(model.encoder(xb))).cpu().numpy()
    return out


def score_scene_clips(checkpoint: Path, clips, asc_root: Path, asc_features, classes: list[str],
                      device=None) -> np.ndarray:
    """Scores of the scene clips by a tagger checkpoint: ours (on our features) or CNN14 (on audio)."""
    ckpt = load_tagger(checkpoint)
    state = ckpt["model"]
    if panns.is_cnn14(state):
        try:
            model = panns.load_cnn14(state, Path(checkpoint), len(classes))
        except ValueError as err:
            raise RankingError(str(err)) from None
        return panns.score_audio(model, [asc_root / c.filename for c in clips], resolve_device(device))
    rows = asc_features.rows(c.clip_id for c in clips)
    return score_clips(checkpoint, asc_features.array, classes, device, rows=rows, ckpt=ckpt)


def rank_classes(scores: np.ndarray, classes: list[str], names: list[str]) -> list[RankedClass]:
    """Rank classes by mean score over clips, highest first (ties: class order)."""
    mean = scores.mean(axis=0)
    order = sorted(range(len(classes)), key=lambda i: (-mean[i], i))
    return [RankedClass(r + 1, i, classes[i], names[i], float(mean[i])) for r, i in enumerate(order)]


def precision_at(ranking: list[RankedClass], relevant: set[str], n: int) -> float:
    """Fraction of the top n ranked classes that are relevant."""
    return sum(r.mid in relevant for r in ranking[:n]) / n


def write_ranking(path: Path, ranking: list[RankedClass]) -> None:
    with Path(path).open("w", newline="") as f:
        w = csv.writer(f, lineterminator="\n")
        w.writerow(["rank", "index", "mid", "display_name", "score"])
        for r in ranking:
            w.writerow([r.rank, r.index, r.mid, r.name, f"{r.score:.6f}"])


RANKING_HEADER = ["rank", "index", "mid", "display_name", "score"]


def read_ranking(path: Path, classes: list[str] | None = None) -> list[RankedClass]:
    """ranking.csv, as written by write_ranking or edited by hand: a BOM, CRLF line ends and
    blank lines at the end are accepted; anything else wrong is an error naming the line (a
    class listed twice, ranks out of order, with `classes` a class id not among them or a
    class missing), so a hand edit never silently changes which classes a strategy takes."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"{path}: missing (run the rank_events stage)")
    with path.open(newline="", encoding="utf-8-sig") as f:
        rows = list(csv.reader(f))
    while rows and not any(v.strip() for v in rows[-1]):
        rows.pop()
    if not rows or [h.strip() for h in rows[0]] != RANKING_HEADER:
        got = rows[0] if rows else []
        hint = ("; it uses ';' between fields (a spreadsheet's export?), ranking.csv uses ','"
                if len(got) == 1 and ";" in got[0] else "")
        raise RankingError(f"{path}:1: header must be {','.join(RANKING_HEADER)}, got {got!r}{hint}")
    known = None if classes is None else set(classes)
    first: dict[str, int] = {}
    out = []
    for lineno, row in enumerate(rows[1:], start=2):
        where = f"{path}:{lineno}"
        if len(row) != len(RANKING_HEADER):
            raise RankingError(f"{where}: expected {len(RANKING_HEADER)} fields "
                               f"({','.join(RANKING_HEADER)}), got {len(row)}: {row!r}")
        rank, index, mid, name, score = (v.strip() for v in row)
        try:
            entry = RankedClass(int(rank), int(index), mid, name, float(score))
        except ValueError:
            raise RankingError(f"{where}: rank and index must be integers and score a number: {row!r}") from None
        if entry.rank != lineno - 1:
            raise RankingError(f"{where}: rank {entry.rank}, expected {lineno - 1} (ranks run 1, 2, ... "
                               f"in line order, each class once)")
        if mid in first:
            raise RankingError(f"{where}: class {mid} is listed twice (first on line {first[mid]})")
        if known is not None and mid not in known:
            raise RankingError(f"{where}: class {mid!r} is not in the class table")
        first[mid] = lineno
        out.append(entry)
    if known is not None and len(first) != len(known):
        missing = sorted(known - set(first))
        raise RankingError(f"{path}: ranks {len(first)} classes, the class table has {len(known)}; "
                           f"missing: {', '.join(missing[:5])}{' ...' if len(missing) > 5 else ''}")
    return out


def tagger_plan(params, layout, pool_features: Path):
    """(pool table, its segments, their feature rows, targets, run spec) of the ranking's tagger:
    the AET baseline on every class of the ranking pool, identified by that data."""
    world = params.active
    classes = [c.mid for c in layout.classes]
    pool = open_features(pool_features, world.features)
    segs = [s for s in layout.segments["balanced_train"] if s.ytid not in pool.rejected]
    rows = pool.rows(s.ytid for s in segs)
    y = multi_hot(segs, classes)
    spec = RunSpec(alpha=1.0, seed=world.seeds[0], epochs=world.ranking.tagger_epochs,
                   width=world.model.width, batch=params.batch, optimizer=params.optimizer,
                   augment=params.augment, threads=params.threads,
                   data_id="ranking:" + digest(classes, [pool.digests[r] for r in rows], y.numpy(),
                                               world.ranking.validation_fraction))
    return pool, segs, rows, y, spec


def rank_events(params, asc_root: Path, aet_root: Path, asc_features: Path, pool_features: Path,
                out_dir: Path, run_store: Path, device=None) -> dict:
    """Train (or load) the tagger, score the ASC training clips, write out_dir/ranking.csv.

    The tagger is trained in the run store like every other run (so it resumes after a
    crash and is not retrained for nothing). Returns a summary with the tagger's
    validation lwlrap and, in the synthetic world, the ranking's precision against the
    known scene events.
    """
    world = params.active
    layout = read_audioset(aet_root)
    # a T beyond the whole pool is known now: say so before hours of tagger training
    check_pool_hours(params, layout.usable("unbalanced_train"))
    classes = [c.mid for c in layout.classes]
    names = [c.name for c in layout.classes]
    summary = {"world": params.world, "classes": len(classes)}
    checkpoint = world.ranking.tagger_checkpoint
    if checkpoint is None:
        pool, segs, rows, y, spec = tagger_plan(params, layout, pool_features)
        x = torch.from_numpy(np.ascontiguousarray(pool.array[rows]))
        run_dir = run_store / spec.fingerprint()
        if (run_dir / RESULT).is_file() and not (run_dir / CHECKPOINT).is_file():
            (run_dir / RESULT).unlink()          # the tagger itself is needed: retrain it
        result = train_tagger(spec, x, y, classes,
                              world.ranking.validation_fraction, run_dir, device)
        checkpoint = run_dir / CHECKPOINT
        summary.update(tagger="trained on the ranking pool", tagger_lwlrap=result["lwlrap"],
                       tagger_clips=len(segs))
    else:
        summary.update(tagger=str(checkpoint), tagger_lwlrap=None)
    asc = open_features(asc_features, world.features)
    clips = [c for c in read_tut2018(asc_root).split("train") if c.clip_id not in asc.rejected]
    scores = score_scene_clips(Path(checkpoint), clips, asc_root, asc, classes, device)
    ranking = rank_classes(scores, classes, names)
    write_ranking(out_dir / "ranking.csv", ranking)
    summary["scored_clips"] = len(clips)
    truth_file = asc_root / "scene_events.csv"
    if truth_file.is_file():        # the synthetic world knows which events occur in scenes
        truth = read_ground_truth(asc_root)
        in_scenes = {m for m, present in truth.items() if present}
        n = len(in_scenes)
        summary["scene_events"] = n
        summary["precision_at_scene_events"] = precision_at(ranking, in_scenes, n)
        # the classes ranked below every scene event: where the uncorrelated strategy is clean
        summary["below_last_scene_event"] = len(ranking) - max(r.rank for r in ranking if r.mid in in_scenes)
    return summary
