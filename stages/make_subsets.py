"""DVC stage make_subsets: the clips of every experiment (AET subsets, ASC folds), the
unbalanced_train clips they need fetched (paper world), and the plan of the world's figures
(metrics/plan.json; the table is printed)."""
import argparse
import sys
from pathlib import Path

from aetasc.config import load_params
from aetasc.data.audioset import Availability, read_audioset, write_availability
from aetasc.data.paper import SourceError, fetch_clips
from aetasc.data.tut2018 import read_tut2018
from aetasc.io import atomic_dir, write_json
from aetasc.plan import format_plan, make_plan, scaled_requests
from aetasc.ranking import RankingError, read_ranking
from aetasc.subsets import Pool, SubsetError, build_and_fetch, check_pool_hours, write_subsets


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--params", default="params.yaml")
    ap.add_argument("--asc", default="data/asc")
    ap.add_argument("--aet", default="data/aet")
    ap.add_argument("--ranking", default="data/ranking/ranking.csv")
    ap.add_argument("--out", default="data/subsets")
    ap.add_argument("--plan", default="metrics/plan.json")
    args = ap.parse_args()
    params = load_params(args.params)
    layout = read_audioset(args.aet)
    try:
        ranking = [r.mid for r in read_ranking(Path(args.ranking), [c.mid for c in layout.classes])]
    except RankingError as err:
        sys.exit(f"make_subsets: {err}")
    scenes = read_tut2018(args.asc)
    listed = layout.listed["unbalanced_train"]
    pending = {s.ytid for s in listed if layout.status[s.ytid] == "pending"}
    pool = Pool(listed, unusable=[s.ytid for s in listed if layout.status[s.ytid] in ("missing", "corrupt")])
    requests = scaled_requests(params)
    evaluation = list(layout.segments["eval"])
    try:
        check_pool_hours(params, layout.usable("unbalanced_train"))
        with atomic_dir(args.out) as tmp:
            reasons = {}       # ytid -> (status, path, reason) of each clip that failed

            def fetch(segments):
                got, failed = fetch_clips(params.active.source, segments, tmp / "audio",
                                          min_sample_rate=params.active.min_sample_rate)
                reasons.update(failed)
                return got, failed
            built, choices, fetched = build_and_fetch(list(requests), ranking, pool, evaluation,
                                                      {r: key for r, (_, key) in requests.items()}, pending, fetch)
            write_subsets(built, choices, pool, scenes, tmp)
            if pending:      # what was fetched here, and what failed (missing or corrupt)
                failed = [y for y in sorted(pending) if not pool.usable[pool.row[y]]]
                write_availability(tmp, [Availability(y, "unbalanced_train", "present", p) for y, p in fetched.items()]
                                   + [Availability(y, "unbalanced_train", *reasons.get(y, ("missing", "", "")))
                                      for y in failed])
            plan = make_plan(params, built, choices, pool, evaluation, list(layout.segments["balanced_train"]),
                             len(scenes.clips), "the tagger's (rank_events)", requests)
    except (SubsetError, SourceError) as err:
        sys.exit(f"make_subsets: {err}")
    write_json(args.plan, plan)
    print(format_plan(plan))


if __name__ == "__main__":
    main()
