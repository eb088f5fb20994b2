"""2D pose detector on simulated renders: detection rate and pixel error against the exact projected joints

  rfpose bench detector --detector mediapipe --frames 40 [--json] [--out F.json]

(formerly ``python -m rfpose.annotation.simeval``). Definitions in :mod:`rfpose.annotation.simeval` and
docs/annotation.md.
"""

from __future__ import annotations

def add_arguments(p) -> None:
    p.add_argument("--detector", default="mediapipe", help="a registered 2D detector (default: mediapipe)")
    p.add_argument("--frames", type=int, default=40)
    p.add_argument("--scenarios", help="comma-separated scenarios (default: the one-person scenarios in full view)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--tracking", action="store_true", help="mediapipe: video mode instead of per image")


def run(args) -> int:
    from dataclasses import asdict

    from rfpose.annotation.simeval import DEFAULT_SCENARIOS, EvalConfig, evaluate_detector, result_rows
    from rfpose.app.benchmarking import emit

    scenarios = tuple(s for s in args.scenarios.split(",") if s) if args.scenarios else DEFAULT_SCENARIOS
    cfg = EvalConfig(args.detector, args.frames, scenarios, args.seed,
                     detector_options={"tracking": True} if args.tracking else {})
    results, summary = evaluate_detector(cfg, progress=not args.json)
    cfgd = asdict(cfg)
    cfgd["scenarios"] = list(cfg.scenarios)
    emit(result_rows(results), args.json, args.out, title=f"{args.detector} on simulated renders",
         extra={"config": cfgd, "summary": summary})
    if not args.json:
        s = summary
        print(f"\ndetected {s['detected']}/{s['frames']}, correct {s['correct']}/{s['frames']} "
              f"(median error < {cfg.pck_fraction:g} x person height), left/right swaps {s['lr_swaps']}; "
              f"median joint error {s['median_error_px']:.1f} px (person height {s['median_person_height_px']:.0f} px)")
        print("per joint median px: " + ", ".join(f"{j} {v:.1f}" for j, v in s["per_joint_median_px"].items()))
        for g, d in s["by"].items():
            print(f"by {g}: " + "; ".join(f"{k}: {v['correct']}/{v['frames']} correct, {v['median_error_px']:.1f} px"
                                          for k, v in d.items()))
    return 0
