"""Commands that run stages or report on them: run, status, annotate."""

from __future__ import annotations

from pathlib import Path

from cli.common import add_canaries, add_common, add_writer, canary_build, load, log, stages, writing
from pipeline.errors import UserError


def register(sub) -> None:
    p = sub.add_parser("run", help="run stages (all by default), skipping those up to date",
                       description="Run the named stages, or every stage in order. A stage whose inputs, "
                       "config and version match its manifest is skipped unless --force.")
    p.add_argument("stages", nargs="*", metavar="STAGE", help="stages to run (default: all, in order)")
    p.add_argument("--force", action="store_true", help="rerun even when up to date")
    p.add_argument("--workers", type=int, default=None, help="worker processes (default: execution.workers)")
    p.add_argument("--engine", choices=["local", "ray"], default=None,
                   help="where shards run: local processes, or Ray tasks (default: execution.engine)")
    p.add_argument("--ray-address", default=None, metavar="ADDR",
                   help='Ray cluster to join: the head\'s HOST:PORT as `ray start --head` printed it, "auto" '
                        '(RAY_ADDRESS or the cluster started here) or "ray://host:10001"; default: a local Ray instance')
    p.add_argument("--accept-incomplete", action="store_true",
                   help="let later stages run on a stage whose items failed (execution.accept_incomplete)")
    add_writer(p)
    add_canaries(p)
    p.set_defaults(func=cmd_run)

    p = sub.add_parser("status", help="show each stage: up to date, stale or never run, and why",
                       description="Compare each stage's current inputs, config and version with its manifest.")
    add_common(p)
    add_canaries(p)
    p.set_defaults(func=cmd_status)

    p = sub.add_parser(
        "annotate", help="run the annotate stage, or --estimate its tokens and cost first",
        description="With --estimate: count the items the configured annotator would still have to rate "
        "(the cache is consulted), and print the projected tokens and cost; nothing is sent. Without it: "
        "the same as `alignx run annotate`.",
    )
    p.add_argument("--estimate", action="store_true", help="print projected tokens and cost, send nothing")
    p.add_argument("--force", action="store_true", help="rerun even when up to date")
    p.add_argument("--accept-incomplete", action="store_true",
                   help="commit the stage even when its items failed (execution.accept_incomplete)")
    add_writer(p)
    p.set_defaults(func=cmd_annotate)


def cmd_run(args) -> int:
    STAGES = stages()
    from pipeline.executors import LocalExecutor, RayExecutor
    from pipeline.runner import Runner

    config, data_dir = load(args)
    engine = getattr(args, "engine", None) or config["execution.engine"]
    if engine == "ray":
        executor = RayExecutor(getattr(args, "ray_address", None) or config["execution.ray_address"])
        executor.check()  # an unreachable cluster is one line now, not a traceback minutes later
    else:  # "local"; the allowed engines are listed in configs/schema.toml
        executor = LocalExecutor()
    runner = Runner(STAGES, config, data_dir, workers=args.workers, executor=executor)
    if getattr(args, "accept_incomplete", False):
        runner.accept_incomplete = True
    with writing(args, data_dir):
        if canary_build(args, data_dir):
            plant_canaries(args, config, data_dir)
        elif getattr(args, "canaries", None) is False:
            leave_canary_build(data_dir)
        runner.run(args.stages, force=args.force)
    return 0


def plant_canaries(args, config, data_dir: Path) -> None:
    """Copy the configured Reddit inputs with canaries planted (``config`` already reads the
    copy; the originals are resolved from the configuration without ``--canaries``). Skipped
    when the copy was planted from the same files, seed and planting code (a stamp beside it),
    so a data dir that stays a canary build does not copy its dumps on every run."""
    import json

    import alignx.privacy.canaries as canaries_module
    from cli.common import load_config
    from alignx.privacy.canaries import COPY_DIR, plant_copy, write_canaries
    from pipeline.io import sha256_file, stable_hash, write_json
    from pipeline.manifest import resolve_inputs

    ingest = next(s for s in stages() if s.name == "ingest_reddit")
    originals = resolve_inputs(ingest, load_config(args.config, args.overrides), data_dir)
    stamp_file = (data_dir / COPY_DIR).parent / "planted.json"
    stamp = stable_hash({"inputs": {str(p): [p.stat().st_size, p.stat().st_mtime_ns] for p in originals},
                         "seed": config["run.seed"], "code": sha256_file(canaries_module.__file__)})
    try:
        if json.loads(stamp_file.read_text()) == stamp and (data_dir / COPY_DIR).is_dir():
            log.info("canaries: the planted copy in %s is current", data_dir / COPY_DIR)
            return
    except (OSError, ValueError):
        pass  # no stamp, or a damaged one: plant again
    stamp_file.unlink(missing_ok=True)
    canaries = plant_copy(originals, data_dir / COPY_DIR, seed=config["run.seed"])
    write_canaries(data_dir, canaries)
    write_json(stamp_file, stamp)
    log.info("planted %d canaries into a copy of %d input file(s) in %s", len(canaries), len(originals),
             data_dir / COPY_DIR)


def leave_canary_build(data_dir: Path) -> None:
    """``--no-canaries``: remove the planted copy, so this and every later command read the
    configured inputs again."""
    import shutil

    from alignx.privacy.canaries import COPY_DIR

    copy = (data_dir / COPY_DIR).parent
    if copy.is_dir():
        shutil.rmtree(copy)
        log.info("canaries: removed the planted copy %s; the Reddit inputs are the configured ones again", copy)


def cmd_status(args) -> int:
    STAGES = stages()
    from pipeline.runner import Runner

    config, data_dir = load(args)
    runner = Runner(STAGES, config, data_dir)
    width = max(len(s.name) for s in STAGES)
    states = runner.states()  # what `alignx run` will find: the same function decides both
    for stage in STAGES:
        plan, state, why = states[stage.name]
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
    return 0  # a reader: nothing is written, not even the hash cache


def cmd_annotate(args) -> int:
    if not args.estimate:
        args.stages, args.workers, args.engine, args.ray_address = ["annotate"], None, None, None
        return cmd_run(args)
    from annotators.estimate import estimate
    from pipeline.manifest import read_manifest, resolve

    config, data_dir = load(args)
    m = read_manifest(data_dir, "anonymize")
    if m is None:
        raise UserError("annotate --estimate needs the anonymize stage's output: run `alignx run anonymize` first")
    files = sorted(resolve(data_dir, p) for p in m["outputs"] if "/threads/" in p)
    e = estimate(config.section("annotate"), data_dir, files, config["assemble.min_comments"],
                 config["assemble.pairs_from"])
    print(f"annotate estimate ({e['annotator']}): {e['items']} items, {e['skipped']} skipped as unable to enter the "
          f"dataset ({100 * e['skipped_share']:.1f}%, annotate.scope), {e['cached']} cached, {e['to_send']} to send in "
          f"{e['requests']} requests (at most {e['items_per_request']} comments each)")
    print(f"  tokens in  ~{e['tokens_in']:,}  ({e['tokens_in_per_comment']:,} per comment sent; "
          f"{e['prefix_tokens_in']:,} of them the shared instruction prefix, which providers may cache)")
    print(f"  tokens out ~{e['tokens_out']:,}  ({e['tokens_out_per_comment']:,} per comment sent: the sparse answers "
          f"of the reference set's labels)")
    print(f"  tokens     {e['tokenizer']}")
    print(f"  cost       ~${e['cost_usd']:.2f}  (prices from annotate.price_*; batch discount applied, no cache "
          f"discount)")
    return 0
