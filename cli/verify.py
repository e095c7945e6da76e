"""alignx verify: a release, or any stage output, against its checksums, manifest and schema."""

from __future__ import annotations

from pathlib import Path

from cli.common import add_common, load
from pipeline.errors import UserError


def register(sub) -> None:
    p = sub.add_parser(
        "verify", help="check a release (or any stage output) against its checksums, manifest and schema",
        description="DIR: a release folder (its checksums.sha256, the emit manifest, and every shard against "
        "schema.json) or any folder or file a stage wrote (against its stage manifest in DATA_DIR/work). Prints "
        "every mismatch and exits 1 on any; reads only, so it works on a read-only data dir.",
    )
    p.add_argument("path", metavar="DIR", nargs="?",
                   help="what to check (default: the release of emit.version under DATA_DIR/release)")
    p.add_argument("--rows", type=int, default=1000, metavar="N",
                   help="rows per shard validated against schema.json (default 1000; 0 = all)")
    add_common(p)
    p.set_defaults(func=cmd_verify)


def cmd_verify(args) -> int:
    from pipeline.verify import CHECKSUMS, check_checksums, check_manifests

    config, data_dir = load(args)
    from stages.emit.stage import release_dir

    target = Path(args.path) if args.path else release_dir(config, data_dir)
    if not target.exists():
        raise UserError(f"{target}: no such file or folder; build it with `alignx run`, or name what to check")
    problems, files, rows = [], 0, 0
    folder = target if target.is_dir() else target.parent
    if (folder / CHECKSUMS).is_file():
        from stages.emit.stage import check_release_schema

        found, n = check_checksums(folder)
        problems += found
        files += n
        found, rows = check_release_schema(folder, args.rows)
        problems += found
    found, n = check_manifests(data_dir, target)
    problems += found
    files += n
    if not files:
        raise UserError(f"{target}: nothing to verify it against (no {CHECKSUMS}, and no stage manifest in "
                        f"{data_dir}/work lists it): pass --data-dir of the build that made it")
    for p in problems:
        print(f"MISMATCH {p}")
    if problems:
        print(f"verify {target}: FAILED, {len(problems)} mismatches ({files} file checks, {rows} rows validated)")
        return 1
    print(f"verify {target}: ok ({files} file checks, {rows} rows validated against the schema)")
    return 0
