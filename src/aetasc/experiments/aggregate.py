"""What a figure's runs measured: per grid point, per-seed values, their mean and spread, the
gain over the ASC baseline, Eq. 3's alpha, the convergence check and the learning-curve study."""
from __future__ import annotations

import csv
import sys
from pathlib import Path

import numpy as np

from aetasc.stats import eq3_alpha, paired_gain, summarize
from aetasc.config import Params
from aetasc.experiments.grid import Run, figure_points, seeds_of, trains_at_eq3
from aetasc.io import percent
from aetasc.training.trainer import CURVES

METRICS = ("asc_accuracy", "lwlrap", "loss_asc", "loss_aet")


def _collect(results: list[tuple[Run, dict]]) -> dict[str, dict]:
    points = {}
    for run, result in results:
        p = points.setdefault(run.point.label, {"x": run.point.x, "alpha": run.spec.alpha,
                                                 "seeds": [], **{m: [] for m in METRICS}})
        p["seeds"].append(run.seed)
        for m in METRICS:
            p[m].append(result.get(m))
    return points


def aggregate(figure: str, params: Params, results: list[tuple[Run, dict]],
              baselines: dict | None) -> dict:
    """Per point: per-seed values, mean and std of each metric; gains over the baseline."""
    raw = _collect(results)
    if figure == "fig2" and baselines is not None:
        for point in figure_points("fig2", params):
            if point.baseline:
                raw[point.label] = {"x": point.x, "alpha": point.alpha,
                                    **{k: v for k, v in baselines["raw"][point.baseline].items()
                                       if k != "x" and k != "alpha"}}
        raw = {p.label: raw[p.label] for p in figure_points("fig2", params)}
    out = {"figure": figure, "world": params.world, "seeds": list(params.active.seeds),
           "epochs": params.active.epochs, "points": {}, "raw": raw}
    base = baselines["raw"]["asc"] if baselines is not None else None
    at_eq3 = {run.point.label for run, _ in results if trains_at_eq3(run.point, params)}
    for label, p in raw.items():
        # at_eq3_alpha: a budget that moves Eq. 3's alpha moves this point (aetasc.analysis.claims)
        entry = {"x": p["x"], "alpha": p["alpha"], "at_eq3_alpha": label in at_eq3}
        for m in METRICS:
            if all(v is not None for v in p[m]):
                entry[m] = summarize(p[m])
        if base is not None and figure != "baselines":
            entry["gain"] = paired_gain(p["seeds"], p["asc_accuracy"], base["seeds"], base["asc_accuracy"])
        out["points"][label] = entry
    if figure == "baselines":
        l_asc = float(np.mean(raw["asc"]["loss_asc"]))
        l_aet = float(np.mean(raw["aet"]["loss_aet"]))
        out["converged_loss_asc"], out["converged_loss_aet"] = l_asc, l_aet
        out["loss_ratio"] = l_asc / l_aet        # of the means over seeds, as Eq. 3's alpha beside it
        out["eq3_alpha"] = eq3_alpha(l_asc, l_aet)
    else:
        out["baseline"] = baselines["points"]["asc"] if baselines is not None else None
    return out


def _rise(a: dict, b: dict, metric: str) -> dict:
    """What a doubled budget adds: `metric` at budget b minus at budget a, paired by seed."""
    return paired_gain(b["seeds"], b[metric], a["seeds"], a[metric])


def _scored(p: dict) -> list[str]:
    """The metrics a point has for every seed: ASC accuracy, and lwlrap where it tags events."""
    return [m for m in ("asc_accuracy", "lwlrap") if p[m] and all(v is not None for v in p[m])]


def convergence(half: dict, full: dict, tolerance: float) -> dict:
    """The convergence criterion on a figure's own runs: a point has converged when its mean
    (over seeds) ASC accuracy (an AET-only point: lwlrap) rose by less than `tolerance` over
    the second half of the budget, from epochs // 2 to epochs. Each point also records the
    rise of every metric it has (`rises`), and the baselines how far Eq. 3's alpha moved: a
    claim waits only for what it reads (aetasc.analysis.claims)."""
    points = {}
    for label, p in full["raw"].items():
        metric = "asc_accuracy" if p["alpha"] < 1.0 else "lwlrap"
        rises = {m: _rise(half["raw"][label], p, m) for m in _scored(p)}
        points[label] = {"metric": metric, "converged": rises[metric]["mean"] < tolerance,
                         "rises": {m: r["mean"] for m, r in rises.items()}}
    out = {"tolerance": tolerance, "from_epochs": half["epochs"], "to_epochs": full["epochs"],
           "converged": all(p["converged"] for p in points.values()), "points": points}
    if "eq3_alpha" in full:
        change = full["eq3_alpha"] - half["eq3_alpha"]
        out["eq3_alpha"] = {"from": half["eq3_alpha"], "to": full["eq3_alpha"], "change": change,
                            "converged": abs(change) < tolerance}
    return out


def aggregate_study(params: Params, by_budget: dict[int, list[tuple[Run, dict]]]) -> dict:
    """The learning-curve study: each arm's metrics at every budget, what each doubling of the
    budget added, Eq. 3's alpha from the asc and aet arms' losses at each budget, and the
    plateau: the smallest budget at which doubling from its half added less than the tolerance
    to the ASC accuracy of every arm scored on scenes (mean over seeds) and moved Eq. 3's
    alpha by less than it. The AET-only arm enters through alpha, the only way the scene
    classification runs read it; its lwlrap is recorded, and a claim that reads lwlrap
    waits for its own points (aetasc.analysis.claims)."""
    world = params.active
    tolerance = world.convergence.tolerance
    budgets = sorted(by_budget)
    raw = {b: _collect(by_budget[b]) for b in budgets}
    out = {"figure": "budget", "world": params.world, "seeds": seeds_of("budget", params),
           "epochs": world.epochs, "budgets": budgets, "tolerance": tolerance, "points": {}, "arms": {}}
    for b in budgets:
        for label, p in raw[b].items():
            entry = {"x": b, "alpha": p["alpha"], "arm": label}
            entry.update({m: summarize(p[m]) for m in METRICS if all(v is not None for v in p[m])})
            out["points"][f"{label} @{b}"] = entry
    for label, p in raw[budgets[-1]].items():
        metric = "asc_accuracy" if p["alpha"] < 1.0 else "lwlrap"
        out["arms"][label] = {"metric": metric, "alpha": p["alpha"],
                              "rise": {str(b): _rise(raw[a][label], raw[b][label], metric)
                                       for a, b in zip(budgets, budgets[1:])}}
    alpha = {b: eq3_alpha(float(np.mean(raw[b]["asc"]["loss_asc"])), float(np.mean(raw[b]["aet"]["loss_aet"])))
             for b in budgets}
    out["eq3_alpha"] = {str(b): alpha[b] for b in budgets}
    out["plateau_epochs"] = next((b for a, b in zip(budgets, budgets[1:])
                                  if abs(alpha[b] - alpha[a]) < tolerance
                                  and all(arm["rise"][str(b)]["mean"] < tolerance
                                          for arm in out["arms"].values() if arm["metric"] == "asc_accuracy")),
                                 None)
    return out


def write_points_csv(path: Path, summary: dict) -> None:
    """One row per grid point (mean and standard deviation over seeds, in % like the PNGs),
    for `dvc plots`; the templates in .dvc/plots find a column's spread in `<column>_sd`."""
    with Path(path).open("w", newline="") as f:
        w = csv.writer(f, lineterminator="\n")
        w.writerow(["label", "x", "alpha", "asc_accuracy_pct", "asc_accuracy_pct_sd", "lwlrap_pct", "lwlrap_pct_sd"])
        for label, p in summary["points"].items():
            acc, lw = p.get("asc_accuracy"), p.get("lwlrap")
            w.writerow([label, p["x"], p["alpha"], _r(acc, "mean"), _r(acc, "std"), _r(lw, "mean"), _r(lw, "std")])


def _r(summary: dict | None, key: str):
    return "" if summary is None else percent(summary[key])


def mean_curves(run_dirs: list[Path]) -> list[dict]:
    """Per-epoch mean over runs of their curves.csv columns. A curves.csv cut short (fewer
    epochs than the others, or a row with fields missing) is left out, with a warning: the
    curves are for monitoring, the results do not depend on them."""
    tables = {}
    for d in run_dirs:
        with (d / CURVES).open(newline="") as f:
            reader = csv.DictReader(f)
            tables[d / CURVES] = [r for r in reader if None not in r.values() and None not in r]
            if len(tables[d / CURVES]) != reader.line_num - 1:
                print(f"warning: {d / CURVES}: a row is cut short (fields missing)", file=sys.stderr)
    longest = max((len(t) for t in tables.values()), default=0)
    for path, rows in list(tables.items()):
        if len(rows) < longest:
            print(f"warning: {path}: {len(rows)} of {longest} epochs (cut short); left out of the "
                  f"mean curves", file=sys.stderr)
            del tables[path]
    tables = list(tables.values())
    out = []
    for rows in zip(*tables):
        entry = {"epoch": int(rows[0]["epoch"])}
        for key in rows[0]:
            vals = [float(r[key]) for r in rows if r[key] != ""]
            if key != "epoch" and vals:
                entry[key] = round(float(np.mean(vals)), 6)
        out.append(entry)
    return out


def summarize_figure(figure: str, params: Params, by_budget: dict[int, list[tuple[Run, dict]]],
                     baselines: dict | None, curves: dict) -> dict:
    """A figure's summary from its runs' results at each budget: the learning-curve study's,
    or the figure at the world's budget with the same at half of it and the convergence
    check between the two."""
    if figure == "budget":
        return {**aggregate_study(params, by_budget), "curves": curves}
    budgets = sorted(by_budget)
    budget, half_budget = budgets[-1], budgets[-1] // 2
    summary = aggregate(figure, params, by_budget[budget], baselines)
    half = aggregate(figure, params, by_budget[half_budget], baselines and baselines["half_budget"])
    half["epochs"] = half_budget
    summary["half_budget"] = half
    summary["convergence"] = convergence(half, summary, params.active.convergence.tolerance)
    summary["curves"] = curves
    return summary
