"""DVC stage report: the paper's claims, our numbers and computed verdicts, as Markdown,
and metrics/summary.json, the flat numbers `dvc metrics diff` compares (aetasc.analysis.summary).

Reads the metrics folder (figure JSONs and ranking.json); a missing file makes its claims
"not measured" instead of failing, so the report can be rendered at any point of the
pipeline.
"""
import argparse
import os
from pathlib import Path

from aetasc.config import load_params
from aetasc.io import write_json
from aetasc.analysis.claims import evaluate_all, load_metrics
from aetasc.analysis.report import render
from aetasc.analysis.summary import summarize
from aetasc.errors import run_stage


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--metrics", default="metrics")
    ap.add_argument("--out", default="figures/REPORT.md")
    ap.add_argument("--summary", default="metrics/summary.json")
    ap.add_argument("--params", default="params.yaml")
    args = ap.parse_args()
    metrics, digests = load_metrics(args.metrics)
    stats = load_params(args.params).stats
    outcomes = evaluate_all(metrics, stats)
    text = render(metrics, digests, stats, outcomes, folder_label=Path(args.metrics).name)
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_name(f".{out.name}.partial")
    tmp.write_text(text)
    os.replace(tmp, out)
    write_json(Path(args.summary), summarize(metrics, stats, outcomes))
    print(f"report: {out}, {args.summary}")


if __name__ == "__main__":
    run_stage(main)
