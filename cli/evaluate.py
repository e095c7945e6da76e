"""alignx evaluate: accuracy of release shards or benchmark files."""

from __future__ import annotations

from pathlib import Path

from cli.common import add_writer, load, writing


def register(sub) -> None:
    p = sub.add_parser(
        "evaluate", help="alignment accuracy per persona type of release shards or benchmark files",
        description="Evaluate release shards (a release folder or .parquet) or benchmark files in the AlignX "
        "format (JSON list or jsonl with prompt, chosen, rejected and persona fields); writes report.json, "
        "report.md and accuracy.png per input (and the trained head, when the trained predictor runs).",
    )
    p.add_argument("paths", nargs="+", metavar="PATH")
    p.add_argument("--predictors", metavar="A,B", default=None,
                   help="comma-separated predictors (default: evaluate.predictors); length and position are "
                   "always added, no-persona comes with trained")
    p.add_argument("--train", metavar="RELEASE_DIR", default=None,
                   help="release folder whose train-*.parquet the trained predictor fits on (default: the "
                   "first PATH that is a release folder)")
    p.add_argument("--out", metavar="DIR", default=None,
                   help="report folder (default: DATA_DIR/work/evaluate/adhoc); a folder inside the data dir "
                   "is written under the data dir's writer lock, one elsewhere needs no lock")
    p.add_argument("--win-rate", action="store_true",
                   help="instead: generate a response with and without the persona (evaluate.judge_model at "
                   "evaluate.judge_base_url) and report the judge's win/tie/loss")
    p.add_argument("--limit", type=int, default=100, help="examples per file for --win-rate (default 100)")
    add_writer(p)
    p.set_defaults(func=cmd_evaluate)


def cmd_win_rate(args, config, out: Path) -> int:
    import json

    from stages.evaluate.predictors import load_examples, win_rate
    from stages.evaluate.stage import judge_settings

    judge = judge_settings(config)
    for path in map(Path, args.paths):
        examples = [e for e in load_examples(path) if e.get("persona_type", "all") == "all"][: args.limit]
        result = win_rate(examples, judge)
        name = path.stem if path.is_file() else path.name
        (out / name).mkdir(parents=True, exist_ok=True)
        (out / name / "win_rate.json").write_text(json.dumps(result, indent=2) + "\n")
        print(f"{name}: win {result['win']}, tie {result['tie']}, loss {result['loss']} of {result['n']} "
              f"(win rate {100 * result['win_rate']:.1f}%, {result['judge_invalid_answers']} invalid answers)")
    return 0


def inside(path: Path, folder: Path) -> bool:
    """Whether ``path`` is ``folder`` or lies under it (both resolved: symlinks and .. followed)."""
    return Path(path).resolve().is_relative_to(Path(folder).resolve())


def cmd_evaluate(args) -> int:
    """Reports written into the data dir take its writer lock (a build may be writing there);
    reports written elsewhere take none: reading a release needs no lock, and the caches under
    DATA_DIR/cache (embeddings, fitted heads) are content-addressed and written atomically."""
    config, data_dir = load(args)
    out = Path(args.out) if args.out else data_dir / "work" / "evaluate" / "adhoc"
    if not inside(out, data_dir):
        return evaluate_into(args, config, data_dir, out)
    with writing(args, data_dir):
        return evaluate_into(args, config, data_dir, out)


def evaluate_into(args, config, data_dir: Path, out: Path) -> int:
    from stages.evaluate.leakage import summary as leakage_summary
    from stages.evaluate.predictors import load_examples
    from stages.evaluate.stage import Predictors, train_files_of

    if args.win_rate:
        return cmd_win_rate(args, config, out)
    names = [n.strip() for n in args.predictors.split(",") if n.strip()] if args.predictors else None
    train_from = [Path(args.train)] if args.train else [Path(p) for p in args.paths]
    train = next((files for files in map(train_files_of, train_from) if files), [])
    predictors = Predictors(config, data_dir / "cache", train, names)
    for path in map(Path, args.paths):
        examples = load_examples(path)
        name = path.stem if path.is_file() else path.name
        report = predictors.report(name, examples, out / name, benchmark=path.suffix in (".json", ".jsonl"),
                                   config=config)
        print(f"{name}: {len(examples)} examples, {report['distinct_items']} distinct items -> {out / name}/report.md")
        for r in report["results"]:
            print(f"  {r['predictor']:<10} {r['persona']:<7} {100 * r['accuracy']:5.1f}%  "
                  f"[{100 * r['ci95'][0]:.1f}, {100 * r['ci95'][1]:.1f}]  n={r['n']}")
        for g in report["persona_gain"]:
            print(f"  persona gain ({g['persona']}): {100 * g['gain']:+.1f} points "
                  f"[{100 * g['ci95'][0]:+.1f}, {100 * g['ci95'][1]:+.1f}]")
        if report["chosen_longer_share"] is not None:
            print(f"  Chosen is the longer response in {100 * report['chosen_longer_share']:.1f}% of distinct items")
        for line in report["shortcut_flags"]:
            print(f"  {line}")
        print(f"  {leakage_summary(report['leakage'])}")
        for pred, n in report["judge_invalid_answers"].items():
            print(f"  {pred}: {n} invalid answers of {report['judge_requests'][pred]} requests")
    return 0
