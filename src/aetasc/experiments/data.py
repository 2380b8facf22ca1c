"""The data of a figure's runs: features and clip lists, loaded once and shared by its runs."""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from aetasc.config import Params
from aetasc.errors import AetascError
from aetasc.events.subsets import SubsetRequest, read_clip_list
from aetasc.experiments.grid import Run
from aetasc.features.extraction import FeatureTable, open_features
from aetasc.io import read_json
from aetasc.training.identity import digest
from aetasc.training.spec import RunData, Task, multi_hot


@dataclass(frozen=True)
class Paths:
    asc_features: Path
    aet_features: Path
    subsets: Path
    runs: Path            # the run store, shared by all figures
    baselines: Path       # metrics/baselines.json


class DataError(AetascError, ValueError):
    """A run's data lost more clips at extraction than params allow (max_rejected_share)."""


def _kept(listed: int, kept: int, what: str, share: float) -> dict:
    """Counts of a clip set after rejection; an error when it lost more than `share` of it."""
    lost = listed - kept
    if listed and lost / listed > share:
        raise DataError(f"{what}: {lost} of {listed} clips were rejected at extraction "
                        f"({100 * lost / listed:.1f} % > max_rejected_share = {100 * share:g} %); see "
                        f"rejected.csv of the features, and fix or replace those files")
    return {"clips": kept, "rejected": lost}


class DataCache:
    """Features and clip lists, loaded once per figure stage and shared by its runs.

    A data set's identity (part of every run's fingerprint) is the digest of what the run
    trains and evaluates on: the digests of its feature rows (written at extraction) in the
    order it reads them, its targets and its classes. It is computed from the clip lists and
    the features' index alone, without reading the features.
    """

    def __init__(self, params: Params, paths: Paths):
        self.params, self.paths = params, paths
        self._asc = None
        self._aet_table = None
        self._subsets = {}
        self._aet_ids: dict[str, str] = {}
        self._index = None
        self.asc_record: dict = {}
        self.aet_records: dict[str, dict] = {}

    @property
    def subsets_index(self) -> dict:
        if self._index is None:
            self._index = read_json(self.paths.subsets / "index.json")
        return self._index

    def aet_table(self) -> FeatureTable:
        if self._aet_table is None:
            self._aet_table = open_features(self.paths.aet_features, self.params.active.features)
        return self._aet_table

    def asc(self) -> tuple[tuple[str, ...], Task, Task, str]:
        """(scenes, train, evaluate, identity) of the scene data; rejected clips left out."""
        if self._asc is None:
            table = open_features(self.paths.asc_features, self.params.active.features)
            clips = read_json(self.paths.subsets / "asc_clips.json")
            scenes = tuple(clips["scenes"])
            tasks, parts, self.asc_record = [], [list(scenes)], {}
            for split in ("train", "evaluate"):
                kept = [(c, s) for c, s in clips[split] if c not in table.rejected]
                self.asc_record[f"asc_{split}"] = _kept(
                    len(clips[split]), len(kept), f"the ASC {split} fold ({self.paths.subsets / 'asc_clips.json'})",
                    self.params.max_rejected_share)
                rows = table.rows(c for c, _ in kept)
                order = np.argsort(rows)
                x = torch.from_numpy(np.ascontiguousarray(table.array[rows[order]]))
                y = torch.tensor([scenes.index(kept[i][1]) for i in order])
                tasks.append(Task(x, y))
                parts += [[table.digests[r] for r in rows[order]], y.numpy()]
            self._asc = (scenes, tasks[0], tasks[1], digest(*parts))
        return self._asc

    def _entry(self, request: SubsetRequest) -> dict:
        entry = self.subsets_index.get(request.id)
        if entry is None:
            raise KeyError(f"{self.paths.subsets}: no subset {request.id} (rerun make_subsets)")
        return entry

    def _aet_rows(self, request: SubsetRequest):
        """(classes, [(feature rows, targets) of train, of val]), rows in reading order."""
        entry = self._entry(request)
        classes = tuple(entry["classes"])
        table = self.aet_table()
        parts = []
        record = {}
        for part in ("train", "val"):
            listed = read_clip_list(self.paths.subsets / entry[part])
            segs = [s for s in listed if s.ytid not in table.rejected]
            record[f"aet_{part}"] = {**_kept(len(listed), len(segs), f"AET subset {request.id} ({part}: "
                                                                     f"{self.paths.subsets / entry[part]})",
                                             self.params.max_rejected_share),
                                     "hours": round(sum(s.seconds for s in segs) / 3600, 6)}
            rows = table.rows(s.ytid for s in segs)
            order = np.argsort(rows)
            parts.append((rows[order], multi_hot([segs[i] for i in order], list(classes))))
        self.aet_records[request.id] = record
        return classes, parts

    def aet_identity(self, request: SubsetRequest) -> str:
        """Identifies a subset's data without loading its features (a run's fingerprint needs it)."""
        if request.id not in self._aet_ids:
            classes, parts = self._aet_rows(request)
            digests = self.aet_table().digests
            self._aet_ids[request.id] = digest(list(classes), *[v for rows, y in parts
                                                                for v in ([digests[r] for r in rows], y.numpy())])
        return self._aet_ids[request.id]

    def data_id(self, events: SubsetRequest | None) -> str:
        """A run's data identity (RunSpec.data_id): the scene data's, and its AET subset's if any."""
        _, _, _, asc_id = self.asc()
        return f"{asc_id}:{self.aet_identity(events) if events else ''}"

    def aet(self, request: SubsetRequest) -> tuple[tuple[str, ...], Task, Task]:
        """(classes, train, validation) of an AET subset; rejected clips left out.

        Only the last subset stays in memory: in the paper's world one can take tens of GB.
        """
        if request.id not in self._subsets:
            classes, parts = self._aet_rows(request)
            array = self.aet_table().array
            tasks = [Task(torch.from_numpy(np.ascontiguousarray(array[rows])), y) for rows, y in parts]
            self._subsets = {request.id: (classes, tasks[0], tasks[1])}
        return self._subsets[request.id]


def run_data(run: Run, cache: DataCache) -> RunData:
    """A run's data, with the record of what it holds (clips, hours, rejections) that its
    result.json keeps."""
    scenes, asc_train, asc_eval, _ = cache.asc()
    if run.events is None:
        return RunData(scenes, (), asc_train, asc_eval, record=dict(cache.asc_record))
    classes, aet_train, aet_val = cache.aet(run.events)
    return RunData(scenes, classes, asc_train, asc_eval, aet_train, aet_val,
                   record={**cache.asc_record, **cache.aet_records[run.events.id]})
