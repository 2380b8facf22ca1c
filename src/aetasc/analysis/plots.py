"""The paper's figures, drawn from the metrics files of the training stages.

Every panel shows the mean over seeds with the standard deviation as error bars, and the
ASC baseline as a dashed line with a +-std band. Drawing uses bare matplotlib Figures (no
pyplot state) under a fixed style, and PNGs carry no software/date metadata, so the same
metrics always give byte-identical files.
"""
from __future__ import annotations

import os
from pathlib import Path

import matplotlib

matplotlib.use("Agg")

import numpy as np  # noqa: E402
from matplotlib.figure import Figure  # noqa: E402
from matplotlib.lines import Line2D  # noqa: E402
from matplotlib.patches import Patch  # noqa: E402
from matplotlib.ticker import FixedLocator, NullLocator  # noqa: E402

from aetasc.io import read_json  # noqa: E402
from aetasc.analysis.format import fmt_p, point_at, rho_over_means, rows_by_seed, signed  # noqa: E402
from aetasc.stats import rm_anova  # noqa: E402

DPI = 120
STYLE = {"font.size": 10, "axes.titlesize": 10, "axes.labelsize": 10, "figure.titlesize": 11,
         "legend.fontsize": 9, "xtick.labelsize": 9, "ytick.labelsize": 9}
ASC_COLOR, AET_COLOR, BASE_COLOR, JOINT_COLOR = "tab:blue", "tab:orange", "0.35", "tab:green"
ACC_LABEL, LWLRAP_LABEL = "ASC macro accuracy (%)", "lwlrap (%)"
ZOOM = (0.9, 1.0)             # the paper's dense alpha grid (step 0.01)
NAMES = {"pretrain+finetune": "pre-train +\nfine-tune", "joint": "joint", "none": "none",
         "dropout": "Dropout", "mixup": "MixUp", "specaugment": "SpecAugment",
         "all": "Dropout +\nSpecAugment\n+ MixUp", "aet": "AET", "aet+specaugment+mixup": "AET +\nSpecAugment\n+ MixUp"}


# ------------------------------------------------------------------------ shared pieces

def _series(fig: dict, metric: str) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(x, mean %, std %) of the points that measured `metric`, sorted by x."""
    rows = sorted((float(p["x"]), p[metric]["mean"], p[metric]["std"])
                  for p in fig["points"].values() if metric in p)
    table = np.array(rows, dtype=float).reshape(-1, 3)
    return table[:, 0], 100 * table[:, 1], 100 * table[:, 2]


def _baseline(ax, summary: dict, color: str, name: str) -> None:
    mean, std = 100 * summary["mean"], 100 * summary["std"]
    ax.axhspan(mean - std, mean + std, color=color, alpha=0.15, lw=0)
    ax.axhline(mean, color=color, ls="--", lw=1.2, label=f"{name} {mean:.1f} ± {std:.1f} %")


def _curve(ax, x, mean, std, color: str, label: str) -> None:
    ax.errorbar(x, mean, yerr=std, color=color, marker="o", ms=4, lw=1.2, capsize=3, label=label)


def _title(m: dict, what: str) -> str:
    """The figure's name, with the world, seeds, epochs and the α its joint runs trained at."""
    alphas = sorted({float(p["alpha"]) for p in m["points"].values() if 0 < float(p["alpha"]) < 1})
    trained = "" if not alphas or "alphas" in what else f", joint training at α = {', '.join(f'{a:.3f}' for a in alphas)}"
    return f"{what}\n{m['world']} world, {len(m['seeds'])} seeds, {m['epochs']} epochs per run{trained}"


def _rho_label(m: dict, metric: str) -> str:
    rho = rho_over_means(m, metric)
    return "ρ over grid means " + ("n/a" if rho is None else f"{rho:.2f}")


def _legend_below(fig: Figure, axes, ncols: int = 2) -> None:
    """One legend under the panels (never over the data), each label once."""
    entries = {}
    for ax in axes:
        for handle, label in zip(*ax.get_legend_handles_labels()):
            entries.setdefault(label, handle)
    fig.legend(entries.values(), entries.keys(), loc="outside lower center", ncols=ncols)


def _value_ticks(ax, values) -> None:
    """Ticks at the grid values of a log axis, written plainly."""
    ax.xaxis.set_major_locator(FixedLocator(sorted(set(values))))
    ax.xaxis.set_minor_locator(NullLocator())
    ax.set_xticklabels([f"{v:g}" for v in sorted(set(values))])


# ------------------------------------------------------------------------ figures

def draw_fig2(fig2: dict, baselines: dict) -> Figure:
    """ASC accuracy and lwlrap vs alpha; right column zoomed on the dense grid near 1."""
    fig = Figure(figsize=(10, 7.5), dpi=DPI, layout="constrained")
    axes = fig.subplots(2, 2, sharey="row", gridspec_kw={"width_ratios": [3, 2]})
    rows = [("asc_accuracy", ASC_COLOR, ACC_LABEL, "ASC baseline", baselines["points"]["asc"]["asc_accuracy"]),
            ("lwlrap", AET_COLOR, LWLRAP_LABEL, "AET baseline", baselines["points"]["aet"]["lwlrap"])]
    eq3 = baselines.get("eq3_alpha")
    for row, (metric, color, ylabel, name, base) in zip(axes, rows):
        x, mean, std = _series(fig2, metric)
        for ax, zoomed in zip(row, (False, True)):
            _baseline(ax, base, BASE_COLOR, name)
            _curve(ax, x, mean, std, color, "multi-task: " + ("lwlrap (α = 0: untrained AET head)"
                                                               if metric == "lwlrap" else "ASC accuracy"))
            if eq3 is not None and (not zoomed or ZOOM[0] <= eq3 <= ZOOM[1]):
                ax.axvline(eq3, color="0.5", ls=":", lw=1, label=f"Eq. 3 α = {eq3:.3f}")
            ax.grid(alpha=0.3)
        row[0].set_ylabel(ylabel)
        row[0].axvspan(*ZOOM, color="#fff1b8", alpha=0.6, lw=0)
        row[0].set_xlim(-0.03, 1.03)
        row[1].set_xlim(ZOOM[0] - 0.005, ZOOM[1] + 0.005)
    for col, what in zip(axes[1], ("alpha (weight of L_AET)", "alpha, zoomed on [0.9, 1] (shaded on the left)")):
        col.set_xlabel(what)
    _legend_below(fig, axes[:, 0], ncols=3)
    one = point_at(fig2, 1.0)
    if one is not None:          # alpha = 1 never trains the ASC head: its accuracy is chance
        for ax in axes[0]:
            ax.annotate("α = 1: ASC head untrained (chance)", (1.0, 100 * fig2["points"][one]["asc_accuracy"]["mean"]),
                        xytext=(-6, 10), textcoords="offset points", ha="right", fontsize=8, color=ASC_COLOR)
    fig.suptitle(_title(fig2, "Fig. 2: joint training with different alphas"))
    return fig


def _trend(m: dict, what: str, xlabel: str) -> Figure:
    """Accuracy (with Pearson rho) and lwlrap against a numeric grid on a log axis."""
    fig = Figure(figsize=(7, 7.5), dpi=DPI, layout="constrained")
    top, bottom = fig.subplots(2, 1, sharex=True)
    x, mean, std = _series(m, "asc_accuracy")
    _baseline(top, m["baseline"]["asc_accuracy"], BASE_COLOR, "ASC baseline")
    _curve(top, x, mean, std, ASC_COLOR, "multi-task: ASC, " + _rho_label(m, "asc_accuracy"))
    top.set_ylabel(ACC_LABEL)
    lx, lmean, lstd = _series(m, "lwlrap")
    _curve(bottom, lx, lmean, lstd, AET_COLOR, "multi-task: AET validation, " + _rho_label(m, "lwlrap"))
    bottom.set_ylabel(LWLRAP_LABEL)
    bottom.set_xlabel(xlabel)
    bottom.set_xscale("log")
    _value_ticks(bottom, x)
    for ax in (top, bottom):
        ax.grid(alpha=0.3)
    _legend_below(fig, (top, bottom), ncols=1)
    fig.suptitle(_title(m, what))
    return fig


def draw_fig3b(m: dict) -> Figure:
    return _trend(m, "Fig. 3b: AET training data size T (random events)", "AET training data T (hours)")


def draw_fig4(m: dict) -> Figure:
    return _trend(m, "Fig. 4: number of event classes k (random events; k = 2: the two most abundant)",
                  "number of event classes k")


def draw_sec41(m: dict) -> Figure:
    """Sec. 4.1: ASC accuracy against T, one curve per alpha, over the ASC baseline."""
    fig = Figure(figsize=(7, 5), dpi=DPI, layout="constrained")
    ax = fig.subplots()
    _baseline(ax, m["baseline"]["asc_accuracy"], BASE_COLOR, "ASC baseline")
    alphas = sorted({float(p["alpha"]) for p in m["points"].values()})
    colors = matplotlib.colormaps["viridis"](np.linspace(0.0, 0.85, len(alphas)))
    for alpha, color in zip(alphas, colors):
        part = {"points": {k: p for k, p in m["points"].items() if abs(float(p["alpha"]) - alpha) < 1e-9}}
        x, mean, std = _series(part, "asc_accuracy")
        _curve(ax, x, mean, std, color, f"multi-task, α = {alpha:g}")
    ax.set_xscale("log")
    _value_ticks(ax, x)
    ax.set_xlabel("AET training data T (hours)")
    ax.set_ylabel(ACC_LABEL)
    ax.grid(alpha=0.3)
    _legend_below(fig, (ax,), ncols=2)
    fig.suptitle(_title(m, "Sec. 4.1: the α sweep repeated on AET data sets of several sizes (random events)"))
    return fig


def _bars(m: dict, what: str, bars: list[tuple[str, dict, str, dict | None]], legend=None) -> Figure:
    """One bar per (name, accuracy summary, colour, gain or None), per-seed values as dots."""
    fig = Figure(figsize=(max(8.0, 1.2 * len(bars) + 2), 5.5), dpi=DPI, layout="constrained")
    ax = fig.subplots()
    base = m["baseline"]["asc_accuracy"]
    _baseline(ax, base, BASE_COLOR, "ASC baseline")
    values = [100 * (base["mean"] + s * base["std"]) for s in (-1, 1)]
    for i, (_, acc, color, gain) in enumerate(bars):
        mean, std, seeds = 100 * acc["mean"], 100 * acc["std"], 100 * np.asarray(acc["per_seed"])
        ax.bar(i, mean, width=0.6, yerr=std, capsize=4, color=color, alpha=0.8)
        ax.plot(i + np.linspace(-0.12, 0.12, len(seeds)), seeds, "o", color="k", ms=3)
        values += [mean - std, mean + std, *seeds]
        if gain is not None:
            ax.annotate(f"{signed(gain['mean'])} pp\n{fmt_p(gain.get('p_greater'))}",
                        (i, max(mean + std, *seeds)), xytext=(0, 4), textcoords="offset points",
                        ha="center", va="bottom", fontsize=9,
                        bbox={"fc": "white", "ec": "none", "alpha": 0.8, "pad": 1})
    # From zero: a bar's height is its value, and small differences are not magnified.
    ax.set_ylim(0.0, min(100.0, max(values) * 1.15))
    ax.set_xticks(range(len(bars)), [name for name, *_ in bars])
    ax.set_ylabel(ACC_LABEL)
    ax.grid(axis="y", alpha=0.3)
    key = [Line2D([], [], color="k", marker="o", ls="", ms=3, label="dots: single seeds; bars: mean ± std"),
           Line2D([], [], ls="", label="text: gain vs baseline, one-sided paired t-test")]
    handles = ax.get_legend_handles_labels()[0] + (legend or []) + key
    fig.legend(handles=handles, loc="outside lower center", ncols=2)
    fig.suptitle(_title(m, what))
    return fig


def _point_bars(m: dict, color_of) -> list[tuple[str, dict, str, dict | None]]:
    return [(NAMES.get(label, label), p["asc_accuracy"], color_of(p), p.get("gain"))
            for label, p in m["points"].items()]


def draw_fig3a(m: dict) -> Figure:
    result = rm_anova(rows_by_seed(m, "asc_accuracy")[1])
    text = ("repeated-measures ANOVA across strategies: undefined" if result["F"] is None
            else f"repeated-measures ANOVA across strategies: F = {result['F']:.2f}, Greenhouse-Geisser "
                 f"{fmt_p(result['gg_p_value'])}")
    return _bars(m, "Fig. 3a: choice of events", _point_bars(m, lambda p: ASC_COLOR),
                 [Line2D([], [], ls="", label=text)])


def draw_fig5(m: dict) -> Figure:
    bars = [("ASC baseline", m["baseline"]["asc_accuracy"], BASE_COLOR, None)]
    return _bars(m, "Fig. 5: AET pre-training + ASC fine-tuning vs joint training",
                 bars + _point_bars(m, lambda p: ASC_COLOR))


def draw_regularizers(m: dict) -> Figure:
    joint = [p["alpha"] for p in m["points"].values() if float(p["alpha"]) > 0]
    alpha = f" (α = {float(joint[0]):.3g})" if joint else ""
    legend = [Patch(color=ASC_COLOR, alpha=0.8, label="ASC only"),
              Patch(color=JOINT_COLOR, alpha=0.8, label="joint training with AET" + alpha)]
    bars = _point_bars(m, lambda p: JOINT_COLOR if float(p["alpha"]) > 0 else ASC_COLOR)
    return _bars(m, "Regularizers: AET vs Dropout, MixUp, SpecAugment", bars, legend)


def draw_budget(m: dict) -> Figure:
    """The learning-curve study: each kind of run's metric and training losses vs budget."""
    fig = Figure(figsize=(10, 4.4), layout="constrained")
    acc_ax, loss_ax = fig.subplots(1, 2)
    budgets = m["budgets"]
    colors = dict(zip(m["arms"], ("0.35", "tab:orange", "tab:green", "tab:blue", "tab:purple")))
    for label, arm in m["arms"].items():
        points = [m["points"][f"{label} @{b}"] for b in budgets]
        metric = arm["metric"]
        name = f"{label} ({'lwlrap' if metric == 'lwlrap' else 'ASC accuracy'})"
        _curve(acc_ax, budgets, [100 * p[metric]["mean"] for p in points], [100 * p[metric]["std"] for p in points],
               colors[label], name)
        for loss, ls in (("loss_asc", "-"), ("loss_aet", ":")):
            if all(loss in p for p in points):
                loss_ax.plot(budgets, [p[loss]["mean"] for p in points], color=colors[label], ls=ls, marker="o", ms=3)
    for ax in (acc_ax, loss_ax):
        ax.set_xscale("log", base=2)
        _value_ticks(ax, budgets)
        ax.set_xlabel("budget (epochs)")
        ax.axvline(m["epochs"], color="0.5", lw=0.8)
        if m["plateau_epochs"] is not None:
            ax.axvline(m["plateau_epochs"], color="tab:red", ls="--", lw=0.8)
    acc_ax.set_ylabel("ASC macro accuracy / lwlrap (%)")
    loss_ax.set_ylabel("training loss, last epoch (— L_ASC, ··· L_AET)")
    loss_ax.set_yscale("log")
    plateau = "none" if m["plateau_epochs"] is None else f"{m['plateau_epochs']} epochs"
    fig.suptitle(f"Learning-curve study: {m['world']} world, {len(m['seeds'])} seeds\ngrey: the budget used "
                 f"({m['epochs']} epochs); red dashed: the plateau ({plateau}), where doubling adds < "
                 f"{100 * m['tolerance']:g} pp\nto every ASC accuracy and moves Eq. 3's α by < {m['tolerance']:g}")
    _legend_below(fig, [acc_ax], ncols=3)
    return fig


# ------------------------------------------------------------------------ output

# PNG name -> (drawing function, metrics files it needs, in argument order)
FIGURES = {
    "fig2.png": (draw_fig2, ("fig2", "baselines")),
    "fig3a.png": (draw_fig3a, ("fig3a",)),
    "fig3b.png": (draw_fig3b, ("fig3b",)),
    "fig4.png": (draw_fig4, ("fig4",)),
    "fig5.png": (draw_fig5, ("fig5",)),
    "regularizers.png": (draw_regularizers, ("regularizers",)),
    "sec41.png": (draw_sec41, ("sec41",)),
    "budget.png": (draw_budget, ("budget",)),
}


def save(fig: Figure, path: Path) -> None:
    """PNG without metadata (no date, no version), through a temporary file and a rename."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.partial")
    fig.savefig(tmp, format="png", dpi=DPI, metadata={"Software": None})
    os.replace(tmp, path)


def render(metrics_dir: str | Path, out_dir: str | Path) -> list[Path]:
    """Draw every figure; fails before drawing anything if a metrics file is missing."""
    metrics_dir, out_dir = Path(metrics_dir), Path(out_dir)
    needed = sorted({name for _, names in FIGURES.values() for name in names})
    missing = [metrics_dir / f"{name}.json" for name in needed if not (metrics_dir / f"{name}.json").is_file()]
    if missing:
        raise FileNotFoundError("cannot draw the figures without " + ", ".join(map(str, missing))
                                + " (has its train stage run?)")
    metrics = {name: read_json(metrics_dir / f"{name}.json") for name in needed}
    written = []
    for png, (draw, names) in FIGURES.items():
        with matplotlib.rc_context(STYLE):
            save(draw(*(metrics[n] for n in names)), out_dir / png)
        written.append(out_dir / png)
    return written
