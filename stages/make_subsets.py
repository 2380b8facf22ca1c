"""DVC stage make_subsets: the clips of every experiment (AET subsets, ASC folds) and the
unbalanced_train clips they need fetched (paper world). The plan stage prices them."""
import argparse
from pathlib import Path

from aetasc.config import load_params
from aetasc.data.audioset import Availability, read_audioset, write_availability
from aetasc.data.audioset_source import fetch_clips
from aetasc.data.tut2018 import read_tut2018
from aetasc.errors import run_stage
from aetasc.events.ranking import read_ranking
from aetasc.events.subsets import Pool, build_and_fetch, check_pool_hours, write_subsets
from aetasc.experiments.grid import asked_by
from aetasc.io import atomic_dir


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--params", default="params.yaml")
    ap.add_argument("--asc", default="data/asc")
    ap.add_argument("--aet", default="data/aet")
    ap.add_argument("--ranking", default="data/ranking/ranking.csv")
    ap.add_argument("--out", default="data/subsets")
    args = ap.parse_args()
    params = load_params(args.params)
    layout = read_audioset(args.aet)
    ranking = [r.mid for r in read_ranking(Path(args.ranking), [c.mid for c in layout.classes])]
    scenes = read_tut2018(args.asc)
    listed = layout.listed["unbalanced_train"]
    pending = {s.ytid for s in listed if layout.status[s.ytid] == "pending"}
    pool = Pool(listed, unusable=[s.ytid for s in listed if layout.status[s.ytid] in ("missing", "corrupt")])
    requests = asked_by(params)
    check_pool_hours(params, layout.usable("unbalanced_train"))
    with atomic_dir(args.out) as tmp:
        reasons = {}       # ytid -> (status, path, reason) of each clip that failed

        def fetch(segments):
            got, failed = fetch_clips(params.active.source, segments, tmp / "audio",
                                      min_sample_rate=params.active.min_sample_rate)
            reasons.update(failed)
            return got, failed
        built, choices, fetched = build_and_fetch(list(requests), ranking, pool, list(layout.segments["eval"]),
                                                  requests, pending, fetch)
        write_subsets(built, choices, pool, scenes, tmp)
        if pending:      # what was fetched here, and what failed (missing or corrupt)
            failed = [y for y in sorted(pending) if not pool.usable[pool.row[y]]]
            write_availability(tmp, [Availability(y, "unbalanced_train", "present", p) for y, p in fetched.items()]
                               + [Availability(y, "unbalanced_train", *reasons.get(y, ("missing", "", "")))
                                  for y in failed])


if __name__ == "__main__":
    run_stage(main)
