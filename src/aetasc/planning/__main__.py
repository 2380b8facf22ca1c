"""Plan the paper world before acquiring anything, from AudioSet's metadata alone.

    python -m aetasc.planning --metadata DIR [--ranking CSV] [--scale S] [--hf REPO] [--out JSON]
    python -m aetasc.planning --bench BENCH_JSON

With --metadata: the data plan (aetasc.planning.data_plan) from the segment CSVs and the class
table, with a stand-in ranking unless one is given; `--scale` plans on a prefix of
unbalanced_train (each T divided by the scale to build the subsets, the clips and hours drawn
from unbalanced_train multiplied back). With --bench alone: the paper world's run grid priced
at a benchmark's timings (tools/bench.py measures, aetasc.planning.cost projects).
"""
from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

from aetasc.config import Params, load_params
from aetasc.data.hf_cache import index_path
from aetasc.data.hf_mirror import Mirror, MirrorIndex, estimate_lines, load_index, open_mirror, plan_lines
from aetasc.errors import AetascError
from aetasc.io import write_json
from aetasc.planning.cost import paper_world_cost, projection_lines, target_line
from aetasc.planning.data_plan import format_plan, plan_from_metadata


def main(argv=None) -> dict:
    ap = argparse.ArgumentParser(prog="python -m aetasc.planning", description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--metadata", type=Path, help="folder of class_labels_indices.csv and the three segment "
                                                  "CSVs (without it: the run grid's cost at --bench only)")
    ap.add_argument("--params", default="params.yaml")
    ap.add_argument("--world", choices=("synthetic", "paper"), default="paper")
    ap.add_argument("--ranking", type=Path, help="ranking.csv of the rank_events stage (default: stand-in)")
    ap.add_argument("--bench", type=Path, help="a benchmark's bench.json (default: metrics/bench.json if present)")
    ap.add_argument("--scale", type=float, default=1.0,
                    help="unbalanced_train rows of the full list / rows given (a prefix: 31.2)")
    ap.add_argument("--out", type=Path, help="write the plan here as JSON")
    ap.add_argument("--hf", metavar="REPO_OR_FOLDER", help="a Hugging Face mirror (agkphysics/AudioSet, with "
                    "--hf-revision) or a folder of its parquet shards: also print the row groups and bytes "
                    "fetching reads from it (its index is built once, from the id column, and kept in the "
                    "params' download_dir)")
    ap.add_argument("--hf-revision", help="the mirror repo's commit (40 hex digits)")
    args = ap.parse_args(argv)
    params = load_params(args.params)
    params = params.model_copy(update={"world": args.world})
    bench_path = args.bench or (Path("metrics/bench.json") if Path("metrics/bench.json").is_file() else None)
    bench = json.loads(bench_path.read_text()) if bench_path else None
    if args.metadata is None:
        if bench is None:
            ap.error("give --metadata to plan the subsets, or --bench to price the run grid alone")
        cost = paper_world_cost(params, bench)
        print("\n".join(projection_lines(cost["runs"], cost["projection"]) + [target_line(cost["target"])]))
        return cost
    start = time.perf_counter()
    try:
        mirror, index = _mirror_index(params, args.hf, args.hf_revision) if args.hf else (None, None)
        plan = plan_from_metadata(params, args.metadata, args.ranking, bench, args.scale, index)
    except (AetascError, FileNotFoundError) as err:   # the metadata or ranking named, with the cause
        sys.exit(f"plan: {err}")
    print(format_plan(plan))
    if "mirror" in plan:
        print("\n" + "\n".join(plan_lines(mirror.name, plan["mirror"])))
        if args.scale != 1:
            print(f"  (unbalanced_train: the clips of the prefix given; about x {args.scale:g} for the full list)")
    else:
        print("\n" + "\n".join(estimate_lines(plan["mirror_estimate"])))
    print(f"\n(planned in {time.perf_counter() - start:.1f} s)")
    if args.out:
        write_json(args.out, plan)
    return plan


def _mirror_index(params: Params, location: str, revision: str | None) -> tuple[Mirror, MirrorIndex]:
    mirror = open_mirror(location, revision, "--hf", "--hf-revision")
    return mirror, load_index(mirror, index_path(params.worlds.paper.source.download_dir, mirror))


if __name__ == "__main__":
    main()
