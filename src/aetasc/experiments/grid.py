"""The paper's figures as grids of training runs: the one expansion of a figure into its runs.

A figure is a list of grid points (an alpha, an AET event set, regularizer switches); each
point is trained once per seed, at every budget the figure reads. plan_runs turns a figure
into its runs with their fingerprinted specs; the runner trains exactly these, and the
planner counts and prices exactly these (aetasc.planning.cost), so the two cannot drift.

Baselines (ASC-only, alpha = 0, and AET-only, alpha = 1, on Fig. 2's event set) form their
own figure; the others compare against it and take Eq. 3's alpha from it.
"""
from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field, replace

from aetasc.config import AugmentParams, Params
from aetasc.events.subsets import SubsetRequest
from aetasc.training.spec import RunSpec

FIGURES = ("baselines", "fig2", "fig3a", "fig3b", "fig4", "fig5", "regularizers", "sec41", "budget")
ALPHA_PARAM = "alpha"   # a point trained at the world's alpha (a number, or Eq. 3 when "auto")
EQ3 = "eq3"             # a point trained at Eq. 3's alpha, whatever the world's alpha says


@dataclass(frozen=True)
class EventSet:
    strategy: str
    k: int
    hours: float

    def request(self, data_seed: int) -> SubsetRequest:
        return SubsetRequest(self.strategy, self.k, float(self.hours), data_seed)


@dataclass(frozen=True)
class Point:
    label: str
    x: float | str                      # position on the figure's x axis
    alpha: float | str                  # a number, ALPHA_PARAM or EQ3
    events: EventSet | None             # AET data (None: ASC only, no lwlrap)
    augment: dict = field(default_factory=dict)   # overrides of params.augment
    pretrain: bool = False              # AET pre-training, then ASC fine-tuning (Fig. 5)
    baseline: str | None = None         # "asc" / "aet": this point is a baseline run


def figure_points(figure: str, params: Params) -> list[Point]:
    f = params.active.figures
    fig2_set = EventSet(f.fig2.strategy, f.fig2.k, f.fig2.hours)
    if figure == "baselines":
        return [Point("asc", 0.0, 0.0, fig2_set, baseline="asc"),
                Point("aet", 1.0, 1.0, fig2_set, baseline="aet")]
    if figure == "fig2":
        return [Point(f"alpha={a:g}", a, a, fig2_set, baseline={0.0: "asc", 1.0: "aet"}.get(a))
                for a in f.fig2.alphas]
    if figure == "fig3a":
        return [Point(s, s, ALPHA_PARAM, EventSet(s, f.fig3a.k, f.fig3a.hours)) for s in f.fig3a.strategies]
    if figure == "fig3b":
        return [Point(f"T={h:g}h", h, ALPHA_PARAM, EventSet(f.fig3b.strategy, f.fig3b.k, h))
                for h in f.fig3b.hours]
    if figure == "fig4":
        # k = 2 is speech + music in the paper: the two most abundant classes
        return [Point(f"k={k}", k, ALPHA_PARAM,
                      EventSet("abundant" if k == 2 else f.fig4.strategy, k, f.fig4.hours)) for k in f.fig4.ks]
    if figure == "fig5":
        s = EventSet(f.fig5.strategy, f.fig5.k, f.fig5.hours)
        return [Point("pretrain+finetune", "pretrain+finetune", 0.0, s, pretrain=True),
                Point("joint", "joint", ALPHA_PARAM, s)]
    if figure == "regularizers":
        r = f.regularizers
        s = EventSet(r.strategy, r.k, r.hours)
        off = {"specaugment": False, "mixup": False, "dropout": 0.0}
        # each regularizer alone (ASC only) against AET alone; the baseline has SpecAugment + MixUp
        return [Point("dropout", "dropout", 0.0, None, {**off, "dropout": r.dropout}),
                Point("mixup", "mixup", 0.0, None, {**off, "mixup": True}),
                Point("specaugment", "specaugment", 0.0, None, {**off, "specaugment": True}),
                Point("aet", "aet", ALPHA_PARAM, s, off),
                Point("aet+specaugment+mixup", "aet+specaugment+mixup", ALPHA_PARAM, s)]
    if figure == "sec41":
        r = f.sec41
        return [Point(f"T={h:g}h alpha={a:g}", h, a, EventSet(r.strategy, r.k, h)) for h in r.hours for a in r.alphas]
    if figure == "budget":
        # the learning-curve study: every kind of run the figures train, on Fig. 2's event set
        return [Point("asc", "asc", 0.0, fig2_set, baseline="asc"),
                Point("aet", "aet", 1.0, fig2_set, baseline="aet"),
                Point("joint eq3", "joint eq3", EQ3, fig2_set),
                Point("joint alpha=0.9", "joint alpha=0.9", 0.9, fig2_set),
                Point("pretrain+finetune", "pretrain+finetune", 0.0, fig2_set, pretrain=True)]
    raise KeyError(f"unknown figure {figure!r}; known: {', '.join(FIGURES)}")


def subset_requests(params: Params) -> list[SubsetRequest]:
    """Every AET data set that some figure trains or validates on, once."""
    return sorted(asked_by(params))


def asked_by(params: Params) -> dict[SubsetRequest, str]:
    """Each AET data set some figure needs -> the params key of the first figure asking for it."""
    out = {}
    base = f"worlds.{params.world}.figures"
    for fig in FIGURES:
        for i, p in enumerate(figure_points(fig, params)):
            if p.events is None:
                continue
            key = {"fig3b": f"fig3b.hours.{i}", "fig4": f"fig4.ks.{i}",
                   "sec41": f"sec41.hours.{i // len(params.active.figures.sec41.alphas)}"}.get(fig, f"{fig}.k / {fig}.hours")
            if fig == "baselines":
                key = "fig2.k / fig2.hours"
            out.setdefault(p.events.request(params.active.data_seed), f"{base}.{key}")
    return out


def trains_at_eq3(point: Point, params: Params) -> bool:
    """Whether a point's alpha is Eq. 3's, from the baselines' converged losses, rather than a
    number of the grid or of params.yaml (which may equal it without depending on it)."""
    return point.alpha == EQ3 or (point.alpha == ALPHA_PARAM and params.alpha == "auto")


def resolve_alpha(point: Point, params: Params, baselines: dict | None) -> float:
    if not trains_at_eq3(point, params):
        return float(params.alpha if point.alpha == ALPHA_PARAM else point.alpha)
    if baselines is None:
        raise ValueError("Eq. 3's alpha needs the baselines' converged losses (metrics/baselines.json)")
    return float(baselines["eq3_alpha"])


def budgets_of(figure: str, params: Params) -> tuple[int, ...]:
    """The budgets a figure's runs are evaluated at, the largest last: the learning-curve
    study's; or the world's epochs and half of it (the convergence check, the report's budget
    robustness). When the study reaches the world's budget, the figures' runs are also
    evaluated at the study's budgets up to it: where the study ends at the world's budget it
    shares its runs with the figures (equal settings, equal fingerprints), and where it goes
    beyond (twice the world's budget: did the world's budget plateau?), the figures' runs stay
    what they are. A study that stops short of the world's budget shares nothing, and a full
    evaluation no figure reads is not made."""
    world = params.active
    study = tuple(world.convergence.study_epochs)
    if figure == "budget":
        return study
    budgets = {world.epochs // 2, world.epochs}
    if max(study) >= world.epochs:
        budgets |= {b for b in study if b <= world.epochs}
    return tuple(sorted(budgets))


def seeds_of(figure: str, params: Params) -> list[int]:
    world = params.active
    return world.seeds[:world.convergence.study_seeds] if figure == "budget" else list(world.seeds)


@dataclass(frozen=True)
class Run:
    point: Point
    seed: int
    spec: RunSpec
    events: SubsetRequest | None         # the run's AET data set
    pretrain_spec: RunSpec | None = None
    budgets: tuple[int, ...] = ()        # the budgets (epochs) whose results this run gives

    def values_at(self, result: dict, budget: int) -> dict:
        """The run's result as a run of `budget` epochs ends: the final one, or one of the full
        evaluations it made on the way (RunSpec.evaluate_at)."""
        if budget == max(self.budgets):
            return result
        return result["at_epochs"][str(budget)]

    @property
    def dir_name(self) -> str:
        return self.spec.fingerprint()


def plan_runs(figure: str, params: Params, data_id: Callable[[SubsetRequest | None], str],
              baselines: dict | None) -> list[Run]:
    """The runs of a figure, each with its fingerprinted spec, in a fixed order.

    `data_id` names the data a run trains on, by its AET data set (None: ASC only): the
    runner's digest of the features (experiments.data.DataCache.data_id), or the planner's
    stand-in before there are features. A run of the largest budget gives every smaller one
    on the way. Pre-training + fine-tuning is step-matched to the other runs: a budget of b
    epochs is b // 2 epochs of AET pre-training (an epoch: as many steps as an ASC epoch)
    and the rest of ASC fine-tuning, one pair of runs per budget.
    """
    world = params.active
    budgets = budgets_of(figure, params)
    runs = []
    for point in figure_points(figure, params):
        if point.baseline and figure not in ("baselines", "budget"):
            continue                                  # taken from metrics/baselines.json
        for seed in seeds_of(figure, params):
            augment = AugmentParams(**{**params.augment.model_dump(), **point.augment})
            events = point.events.request(world.data_seed) if point.events else None
            spec = RunSpec(alpha=resolve_alpha(point, params, baselines), seed=seed, epochs=max(budgets),
                           width=world.model.width, batch=params.batch, optimizer=params.optimizer,
                           augment=augment, threads=params.threads, data_id=data_id(events), evaluate_at=budgets[:-1])
            if not point.pretrain:
                runs.append(Run(point, seed, spec, events, budgets=budgets))
                continue
            # pre-training + fine-tuning takes a pair of runs per budget: the study's, or the
            # world's budget and half of it
            for b in budgets if figure == "budget" else (world.epochs // 2, world.epochs):
                pre = replace(spec, alpha=1.0, epochs=b // 2, evaluate_at=())
                fine = replace(spec, alpha=0.0, epochs=b - b // 2, evaluate_at=(), init_encoder=pre.fingerprint())
                runs.append(Run(point, seed, fine, events, pre, budgets=(b,)))
    return runs
