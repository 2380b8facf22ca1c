"""The benchmark's result (bench.json) as the table `python -m tools.bench` prints."""
from __future__ import annotations


def format_report(r: dict) -> str:
    d, m, f = r["device"], r["matmul"], r["features"]
    lines = [f"device: {d['type']} ({d['name']}), torch {d['torch']}, {d['threads']} threads; {r['date']}",
             f"matrix multiply ({m['dtype']}, {m['size']}^3): {m['flops_per_second'] / 1e12:.3f} TFLOP/s",
             f"log-mel front end ({f['clip_seconds']:g} s at {f['sample_rate']} Hz -> "
             f"{f['shape'][0]} x {f['shape'][1]}, batch {f['batch']}): {f['clips_per_second']:.1f} clips/s, "
             f"{f['x_realtime']:.0f}x real time", "",
             "training step (Trainer.train_epoch, data resident, as a run of the world takes it)",
             f"{'shapes':<10} {'width':>5} {'input':>12} {'compiled':>9} {'ms/step':>9} {'clips/s':>9} "
             f"{'GFLOP/step':>10} {'TFLOP/s':>8} {'of peak':>8} {'eval clips/s':>12}"]
    for world, t in r["training"].items():
        compiled = f"{t['compile_seconds']:.0f} s" if t.get("compiled") else "no"
        lines.append(f"{world:<10} {t['width']:>5} {'x'.join(map(str, t['input'])):>12} {compiled:>9} "
                     f"{t['ms_per_step']:>9.1f} {t['clips_per_second']:>9.1f} "
                     f"{t['flops_per_step'] / 1e9:>10.1f} {t['flops_per_second'] / 1e12:>8.3f} "
                     f"{100 * t['fraction_of_peak']:>7.1f}% {t['eval_clips_per_second']:>12.1f}")
    for world, t in r["training"].items():
        if t.get("recompile_seconds") is not None:
            lines.append(f"{world}: the next run's model compiled in the same process: "
                         f"{t['recompile_seconds']:.1f} s (the first: {t['compile_seconds']:.1f} s)")
        if "levers" in t:
            lines += ["", *_lever_lines(world, t)]
        if "candidates" in t:
            lines += ["", f"candidates at the {world} shapes, against the Trainer's step ({t['ms_per_step']:.1f} ms)"]
            lines += [f"{c['lever']:<14} " + (c["skipped"] if "skipped" in c else
                      f"{c['with']:<16} {c['with_ms']:>8.1f} ms {c['speedup']:>6.2f}x  compile {c['compile_seconds']:.0f} s, "
                      f"a {c['run_steps']:,}-step run {c['run_speedup']:.2f}x") for c in t["candidates"]]
        if "profile" in t:
            pr = t["profile"]
            lines += ["", f"torch.profiler at the {world} shapes: {pr['ms_per_step']:.1f} ms of {pr['clock']} "
                          f"self time per step ({pr['steps']} steps); the top entries:",
                      f"{'share':>6} {'ms/step':>8} {'calls':>6}  name"]
            lines += [f"{100 * e['share']:>5.1f}% {e['ms_per_step']:>8.2f} {e['calls_per_step']:>6.0f}  {e['name'][:90]}"
                      for e in pr["top"]]
    lines += ["", *_target_lines(r["targets"]),
              "", "the paper world's cost at these timings: python -m aetasc.planning --bench <this bench.json>"]
    return "\n".join(lines)


def _lever_lines(world: str, t: dict) -> list[str]:
    lines = [f"levers at the {world} shapes (the Trainer's settings, eager: {t['default_ms']:.1f} ms/step)",
             f"{'lever':<16} {'plain':<22} {'ms':>8} {'with':<24} {'ms':>8} {'speedup':>8}"]
    for lv in t["levers"]:
        if "skipped" in lv:
            lines.append(f"{lv['lever']:<16} {lv['skipped']}")
            continue
        extra = ""
        if "compile_seconds" in lv:
            even = lv["break_even_steps"]
            extra = (f"  (compile {lv['compile_seconds']:.1f} s, earned back after "
                     + (f"{even:,.0f} steps" if even is not None else "never")
                     + f"; a {lv['run_steps']:,}-step run {lv['run_speedup']:.2f}x)")
        lines.append(f"{lv['lever']:<16} {lv['plain']:<22} {lv['plain_ms']:>8.1f} {lv['with']:<24} "
                     f"{lv['with_ms']:>8.1f} {lv['speedup']:>7.2f}x{extra}")
    lines.append(f"{'data source':<28} {'ms/step':>8} {'vs resident':>12}")
    for dl in t["data_loading"]:
        lines.append(f"{dl['source']:<28} " + (dl["skipped"] if "skipped" in dl else
                                               f"{dl['ms']:>8.1f} {100 * dl['overhead']:>+11.1f}%"))
    for sh in t["sharing"]:
        lines.append(f"{sh['processes']} {sh.get('kind', 'joint')} run(s) sharing the device: " + (
            sh["skipped"] if "skipped" in sh else
            f"{sh['clips_per_second']:.1f} clips/s aggregate" +
            (f" ({sh['vs_one']:.2f}x one)" if "vs_one" in sh else "")))
    return lines


def _target_lines(t: dict) -> list[str]:
    req = t["required"]
    head = (f"GPU targets: >= {100 * req['fraction_of_peak']:.0f}% of the bf16 matmul rate in the step; "
            f"host data within {100 * req['data_loading_overhead']:.0f}% of resident")
    if not t["verified"]:
        return [head, f"  NOT verified: {t['why']}"]
    return [head] + [f"  {k}: " + ("not measured" if v["met"] is None else
                                   f"{'met' if v['met'] else 'NOT met'} ({v['value']:.3g}, "
                                   f"required {'<=' if k != 'fraction_of_peak' else '>='} {v['required']:g})")
                     for k, v in t.items() if k not in ("required", "verified")]

