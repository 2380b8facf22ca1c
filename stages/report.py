"""DVC stage report: the paper's claims, our numbers and computed verdicts, as Markdown.

Reads the metrics folder (figure JSONs and ranking.json); a missing file makes its claims
"not measured" instead of failing, so the report can be rendered at any point of the
pipeline.
"""
import argparse
import os
from pathlib import Path

from aetasc.config import load_params
from aetasc.report import load_metrics, render


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--metrics", default="metrics")
    ap.add_argument("--out", default="figures/REPORT.md")
    ap.add_argument("--params", default="params.yaml")
    args = ap.parse_args()
    metrics, digests = load_metrics(args.metrics)
    text = render(metrics, digests, load_params(args.params).stats, folder_label=Path(args.metrics).name)
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_name(f".{out.name}.partial")
    tmp.write_text(text)
    os.replace(tmp, out)
    print(f"report: {out}")


if __name__ == "__main__":
    main()
