"""alignx evaluate: accuracy of release shards or benchmark files."""

from __future__ import annotations

from pathlib import Path

from alignx.cli.common import add_common, load, log
from pipeline.errors import UserError


def register(sub) -> None:
    p = sub.add_parser(
        "evaluate", help="alignment accuracy per persona type of release shards or benchmark files",
        description="Evaluate release shards (a folder or .parquet) or benchmark files in the AlignX format "
        "(JSON list or jsonl with prompt, chosen, rejected and persona fields) with the predictors of "
        "evaluate.predictors; writes report.json, report.md and accuracy.png per input.",
    )
    p.add_argument("paths", nargs="+", metavar="PATH")
    p.add_argument("--out", metavar="DIR", default=None, help="report folder (default: DATA_DIR/work/evaluate/adhoc)")
    p.add_argument("--win-rate", action="store_true",
                   help="instead: generate a response with and without the persona (evaluate.judge_model at "
                   "evaluate.judge_base_url) and report the judge's win/tie/loss")
    p.add_argument("--limit", type=int, default=100, help="examples per file for --win-rate (default 100)")
    add_common(p)
    p.set_defaults(func=cmd_evaluate)


def cmd_evaluate(args) -> int:
    import json

    from stages.evaluate.stage import make_predictors, write_report

    config, data_dir = load(args)
    p = config.section("evaluate")
    out = Path(args.out) if args.out else data_dir / "work" / "evaluate" / "adhoc"
    from stages.evaluate.predictors import load_examples

    predictors = [] if args.win_rate else make_predictors(config, data_dir / "cache" / "embeddings")

    if args.win_rate:
        from stages.evaluate.predictors import win_rate

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
    for path in map(Path, args.paths):
        examples = load_examples(path)
        name = path.stem if path.is_file() else path.name
        report = write_report(name, examples, predictors, p["leakage_margin"], out / name, path.is_file())
        print(f"{name}: {len(examples)} examples -> {out / name}/report.md")
        for r in report["results"]:
            print(f"  {r['predictor']:<10} {r['persona']:<7} {100 * r['accuracy']:5.1f}%  "
                  f"[{100 * r['ci95'][0]:.1f}, {100 * r['ci95'][1]:.1f}]  n={r['n']}")
        for w in report["leakage_warnings"]:
            print(f"  {w}")
        for pred, n in report["judge_invalid_answers"].items():
            print(f"  {pred}: {n} invalid answers of {report['judge_requests'][pred]} requests")
    return 0
