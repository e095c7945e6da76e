"""The ``alignx`` command line (also ``python -m pipeline``)."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from pipeline.config import Config, load_config
from pipeline.errors import StageFailed, UserError
from pipeline.logs import get_logger, setup_logging

log = get_logger("cli")


def _common(p: argparse.ArgumentParser) -> None:
    p.add_argument("--config", metavar="FILE", help="TOML file whose keys override configs/default.toml")
    p.add_argument("--set", dest="overrides", metavar="SECTION.KEY=VALUE", action="append", default=[],
                   help="override one setting (repeatable), e.g. --set reddit.min_length=20")
    p.add_argument("--data-dir", metavar="DIR", default="data",
                   help="root of raw/, sample/, work/, release/ (default: ./data)")
    p.add_argument("-v", "--verbose", action="count", default=0, help="debug logging")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="alignx",
        description="Build, inspect and trace the AlignX personalized-preference dataset.",
        epilog="Stages run in order: " + ", ".join(_stage_names()) + ". See README.md.",
    )
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)

    p = sub.add_parser("run", help="run stages (all by default), skipping those up to date",
                       description="Run the named stages, or every stage in order. A stage whose inputs, "
                       "config and version match its manifest is skipped unless --force.")
    p.add_argument("stages", nargs="*", metavar="STAGE", help="stages to run (default: all, in order)")
    p.add_argument("--force", action="store_true", help="rerun even when up to date")
    p.add_argument("--workers", type=int, default=None, help="worker processes (default: execution.workers)")
    p.add_argument("--engine", choices=["local", "ray"], default=None,
                   help="where shards run: local processes, or Ray tasks (default: execution.engine)")
    p.add_argument("--ray-address", default=None, metavar="ADDR",
                   help='Ray cluster to join ("auto", "ray://host:10001"); default: a local Ray instance')
    _common(p)

    p = sub.add_parser("status", help="show each stage: up to date, stale or never run, and why",
                       description="Compare each stage's current inputs, config and version with its manifest.")
    _common(p)

    p = sub.add_parser("provenance", help="trace a record or example id to its sources",
                       description="Find EXAMPLE_ID in the stages' outputs and print its source records, "
                       "annotator and the manifests of every stage that touched it.")
    p.add_argument("example_id", metavar="EXAMPLE_ID")
    _common(p)

    p = sub.add_parser(
        "collect", help="fetch live Reddit data with praw into dump files ingest_reddit reads",
        description="Fetch posts and their comments through the Reddit API into <name>_submissions.zst and "
        "<name>_comments.zst. Credentials: environment variables praw_client_id, praw_client_secret, "
        "praw_user_agent, or a praw.ini site (--site). Rate limits are handled by praw; Ctrl-C keeps "
        "what was fetched.",
    )
    what = p.add_mutually_exclusive_group(required=True)
    what.add_argument("--subreddit", metavar="NAME", help="collect this subreddit's posts")
    what.add_argument("--submission", metavar="ID", action="append", help="collect this post (repeatable)")
    p.add_argument("--limit", type=int, default=25, help="posts to fetch from the subreddit (default 25)")
    p.add_argument("--comments-per-post", type=int, default=None, metavar="M",
                   help="keep at most M comments per post (default: all, expanding 'more comments')")
    p.add_argument("--sort", choices=["new", "hot", "top", "rising", "controversial"], default="new",
                   help="subreddit listing to read (default new)")
    p.add_argument("--out", metavar="DIR", help="output folder (default: DATA_DIR/raw/reddit/live)")
    p.add_argument("--name", help="file name prefix (default: <subreddit>-<UTC time>)")
    p.add_argument("--site", help="praw.ini site holding the credentials")
    _common(p)

    p = sub.add_parser(
        "audit-privacy", help="prove no Reddit identity or personal data is in a release",
        description="Scan every text of every parquet shard under DIR for real author names (from "
        "data/private), u/ mentions, emails, phone numbers, IPs and card numbers. Prints counts and "
        "masked examples; exits 1 on any finding. DIR defaults to the newest release in "
        "DATA_DIR/release, else the anonymize stage's outputs.",
    )
    p.add_argument("release_dir", nargs="?", metavar="DIR")
    _common(p)

    p = sub.add_parser(
        "annotate", help="run the annotate stage, or --estimate its tokens and cost first",
        description="With --estimate: count the items the configured annotator would still have to rate "
        "(the cache is consulted), and print the projected tokens and cost; nothing is sent. Without it: "
        "the same as `alignx run annotate`.",
    )
    p.add_argument("--estimate", action="store_true", help="print projected tokens and cost, send nothing")
    p.add_argument("--force", action="store_true", help="rerun even when up to date")
    _common(p)

    p = sub.add_parser(
        "forget", help="honour a request to be removed: add authors to the opt-out list",
        description="Store the keyed hash of each name (never the name) in DATA_DIR/private/optout.txt. From "
        "the next build on, their posts and comments are dropped before anything else sees them and their "
        "name is scrubbed where others mention it. Run `alignx run` to rebuild, then `alignx diff-release`.",
    )
    p.add_argument("--author", action="append", default=[], metavar="NAME", help="a Reddit username (repeatable)")
    p.add_argument("--file", metavar="LIST", help="a file of usernames, one a line")
    _common(p)

    p = sub.add_parser("diff-release", help="added, removed and changed example ids between two releases",
                       description="Compare two release folders by example id; a changed example has the same id "
                       "and different content. For a changelog after `alignx forget` or a new month of data.")
    p.add_argument("old", metavar="OLD")
    p.add_argument("new", metavar="NEW")
    p.add_argument("--ids", action="store_true", help="list every id, not only the counts and a sample")
    _common(p)

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
    _common(p)
    return parser


def _stage_names() -> list[str]:
    from stages import STAGES

    return [s.name for s in STAGES]


def _config(args) -> tuple[Config, Path]:
    config = load_config(args.config, args.overrides)
    data_dir = Path(args.data_dir)
    return config, data_dir


def cmd_run(args) -> int:
    from pipeline.runner import LocalRunner
    from stages import STAGES

    config, data_dir = _config(args)
    engine = getattr(args, "engine", None) or config["execution.engine"]
    if engine == "ray":
        from pipeline.runner import RayRunner

        address = getattr(args, "ray_address", None) or config["execution.ray_address"]
        runner = RayRunner(STAGES, config, data_dir, workers=args.workers, address=address)
    elif engine == "local":
        runner = LocalRunner(STAGES, config, data_dir, workers=args.workers)
    else:
        raise UserError(f"execution.engine: '{engine}' must be \"local\" or \"ray\"")
    runner.run(args.stages, force=args.force)
    return 0


def cmd_status(args) -> int:
    from pipeline.runner import LocalRunner
    from stages import STAGES

    config, data_dir = _config(args)
    runner = LocalRunner(STAGES, config, data_dir)
    width = max(len(s.name) for s in STAGES)
    not_current: set[str] = set()
    for stage in STAGES:
        try:
            plan = runner.plan(stage)
            why = "; ".join(plan.reasons)
        except UserError as exc:
            plan, why = None, str(exc)
        state = plan.state if plan else "error"
        behind = [up for up in stage.upstream if up in not_current]
        if behind and state == "up to date":
            state, why = "stale", f"upstream {', '.join(behind)} will rerun first"
        if state != "up to date":
            not_current.add(stage.name)
        line = f"{stage.name:<{width}}  {state}"
        if why:
            line += f"  ({why})"
        elif plan and plan.manifest:
            m = plan.manifest
            line += f"  ({m['records_out']} records, {sum(m['dropped'].values())} dropped, {m['finished_at']})"
            extra = stage.summary(m)
            if extra:
                line += f"\n{'':<{width}}  {extra}"
        print(line)
    runner.hashes.save()
    return 0


def cmd_provenance(args) -> int:
    from pipeline.provenance import find_record, format_hits
    from stages import STAGES

    _, data_dir = _config(args)
    hits = find_record(STAGES, data_dir, args.example_id)
    if not hits:
        raise UserError(f"{args.example_id}: no record with this id in any stage output under {data_dir}/work")
    print(format_hits(hits, STAGES, data_dir))
    return 0


def cmd_collect(args) -> int:
    from pipeline.collect import collect, make_reddit

    _, data_dir = _config(args)
    out = Path(args.out) if args.out else data_dir / "raw" / "reddit" / "live"
    collect(make_reddit(args.site), out, subreddit=args.subreddit, submission_ids=args.submission,
            limit=args.limit, comments_per_post=args.comments_per_post, sort=args.sort, name=args.name)
    return 0


def cmd_audit_privacy(args) -> int:
    import polars as pl

    from pipeline.manifest import work_dir
    from pipeline.privacy import audit_tables

    config, data_dir = _config(args)
    if args.release_dir:
        root = Path(args.release_dir)
    else:
        releases = sorted(p for p in (data_dir / "release").glob("*") if p.is_dir())
        outs = sorted(work_dir(data_dir, "anonymize").glob("out-*"))
        root = releases[-1] if releases else (outs[-1] if outs else None)
        if root is None:
            raise UserError(f"no release in {data_dir}/release and no anonymize output: run `alignx run` or pass DIR")
    if not root.is_dir():
        raise UserError(f"{root}: not a directory")
    names_file = data_dir / "private" / "anonymize" / "authors.parquet"
    names = pl.read_parquet(names_file)["author"].to_list() if names_file.exists() else []
    if not names:
        log.warning("%s not found: author names cannot be checked, only mentions and personal data", names_file)
    p = config.section("anonymize")
    counts, findings, scanned = audit_tables(root, names, min_name_length=p["min_name_length"],
                                             ordinary_word_zipf=p["ordinary_word_zipf"])
    print(f"audit-privacy {root}: {scanned} texts scanned, {len(names)} real author names checked")
    for kind in ("author_name", "mention", "email", "phone", "ip", "card"):
        print(f"  {kind:<12} {counts.get(kind, 0)}")
    for f in findings:
        print(f"  found {f.kind} in {f.file} column {f.column} row {f.row}: {f.text}")
    if counts:
        print(f"FAILED: {sum(counts.values())} findings")
        return 1
    print("passed: no findings")
    return 0


def cmd_annotate(args) -> int:
    if not args.estimate:
        args.stages, args.workers, args.engine, args.ray_address = ["annotate"], None, None, None
        return cmd_run(args)
    from pipeline.annotation import estimate
    from pipeline.manifest import read_manifest, resolve

    config, data_dir = _config(args)
    m = read_manifest(data_dir, "anonymize")
    if m is None:
        raise UserError("annotate --estimate needs the anonymize stage's output: run `alignx run anonymize` first")
    files = sorted(resolve(data_dir, p) for p in m["outputs"] if "/threads/" in p)
    e = estimate(config.section("annotate"), data_dir, files)
    print(f"annotate estimate ({e['annotator']}): {e['items']} items, {e['cached']} cached, {e['to_send']} to send")
    print(f"  tokens in  ~{e['tokens_in']:,}")
    print(f"  tokens out ~{e['tokens_out']:,}")
    print(f"  cost       ~${e['cost_usd']:.2f}  (prices from annotate.price_*; batch discount applied)")
    return 0


def cmd_evaluate(args) -> int:
    import json

    from stages.evaluate import make_predictors, write_report

    config, data_dir = _config(args)
    p = config.section("evaluate")
    out = Path(args.out) if args.out else data_dir / "work" / "evaluate" / "adhoc"
    from pipeline.evaluation import load_examples

    predictors = [] if args.win_rate else make_predictors(config, data_dir / "cache" / "embeddings")

    if args.win_rate:
        from pipeline.evaluation import win_rate

        from stages.evaluate import judge_settings

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


def cmd_forget(args) -> int:
    from pipeline.privacy import add_optout, load_key

    config, data_dir = _config(args)
    names = list(args.author)
    if args.file:
        try:
            names += [line.strip() for line in Path(args.file).read_text().splitlines() if line.strip()]
        except OSError as exc:
            raise UserError(f"{args.file}: cannot read ({exc})") from None
    if not names:
        raise UserError("forget: give --author NAME or --file LIST")
    key = load_key(data_dir / config["anonymize.key_file"])
    added = add_optout(data_dir, key, names)
    print(f"{added} new of {len(names)} name(s) added to {data_dir / 'private' / 'optout.txt'} (as keyed hashes); "
          f"run `alignx run` to rebuild without them")
    return 0


def cmd_diff_release(args) -> int:
    from pipeline.release_diff import diff_releases

    d = diff_releases(Path(args.old), Path(args.new))
    print(f"{args.old} -> {args.new}: {len(d['added'])} added, {len(d['removed'])} removed, "
          f"{len(d['changed'])} changed, {d['unchanged']} unchanged")
    for kind in ("added", "removed", "changed"):
        ids = d[kind] if args.ids else d[kind][:10]
        for i in ids:
            print(f"  {kind[0].upper()} {i}")
        if not args.ids and len(d[kind]) > 10:
            print(f"  ... {len(d[kind]) - 10} more {kind} (--ids lists all)")
    return 0


COMMANDS = {"run": cmd_run, "status": cmd_status, "provenance": cmd_provenance, "collect": cmd_collect,
            "audit-privacy": cmd_audit_privacy, "annotate": cmd_annotate,
            "evaluate": cmd_evaluate, "forget": cmd_forget, "diff-release": cmd_diff_release}


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    setup_logging(args.verbose)
    try:
        return COMMANDS[args.command](args)
    except UserError as exc:
        print(f"alignx: error: {exc}", file=sys.stderr)
        return 2
    except StageFailed as exc:
        print(f"alignx: failed: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("alignx: interrupted; finished shards are kept, rerun to resume", file=sys.stderr)
        return 130


if __name__ == "__main__":
    raise SystemExit(main())
