"""Privacy commands: audit-privacy, forget."""

from __future__ import annotations

from pathlib import Path

from cli.common import add_common, add_writer, load, log, writing
from pipeline.errors import UserError


def register(sub) -> None:
    p = sub.add_parser(
        "audit-privacy", help="prove no Reddit identity or personal data is in a release",
        description="Scan every text of every parquet shard under DIR, with detectors apart from the scrubber's "
        "(alignx/privacy/audit.py), for real author names (every name seen in any input, from data/private) "
        "however written, u/ mentions, emails, phone numbers, IPs, card and bank account numbers, crypto wallets, "
        "dates of birth, addresses, profile links, handles and national id numbers, and for the canaries that "
        "`alignx run --canaries` planted (canary.<kind>, from DATA_DIR/private/canaries.json). Prints counts by "
        "family and masked examples; exits 1 on any finding, and on a folder with no parquet shard. DIR defaults "
        "to the release of emit.version in DATA_DIR/release, else the anonymize stage's outputs.",
    )
    p.add_argument("release_dir", nargs="?", metavar="DIR")
    add_common(p)
    p.set_defaults(func=cmd_audit_privacy)

    p = sub.add_parser(
        "forget", help="honour a request to be removed: add authors to the opt-out list",
        description="Store the keyed hash of each name (never the name) in DATA_DIR/private/optout.txt. From "
        "the next build on, their posts and comments are dropped before anything else sees them and their "
        "name is scrubbed where others mention it. Run `alignx run` to rebuild, then `alignx diff-release`.",
    )
    p.add_argument("--author", action="append", default=[], metavar="NAME", help="a Reddit username (repeatable)")
    p.add_argument("--file", metavar="LIST", help="a file of usernames, one a line")
    add_writer(p)
    p.set_defaults(func=cmd_forget)


def cmd_audit_privacy(args) -> int:
    import polars as pl

    from pipeline.manifest import work_dir

    config, data_dir = load(args)
    if args.release_dir:
        root = Path(args.release_dir)
    else:
        from stages.emit.stage import release_dir

        release = release_dir(config, data_dir)
        outs = sorted(work_dir(data_dir, "anonymize").glob("out-*"))
        root = release if release.is_dir() else (outs[-1] if outs else None)
        if root is None:
            raise UserError(f"no release in {release} and no anonymize output: run `alignx run` or pass DIR")
    if not root.is_dir():
        raise UserError(f"{root}: not a directory")
    names_file = data_dir / "private" / "anonymize" / "authors.parquet"
    names = pl.read_parquet(names_file)["author"].to_list() if names_file.exists() else []
    if not names:
        log.warning("%s not found: author names cannot be checked, only mentions and personal data", names_file)
    from alignx.privacy.audit import FAMILIES, audit_release
    from alignx.privacy.canaries import KINDS as CANARY_KINDS, load_canaries

    canaries = load_canaries(data_dir)
    p = config.section("anonymize")
    report = audit_release(root, names, min_name_length=p["min_name_length"],
                           ordinary_word_zipf=p["ordinary_word_zipf"], canaries=canaries)
    print(f"audit-privacy {root}: {report.shards} parquet shards, {report.scanned} texts scanned, "
          f"{report.names} real author names checked, {report.canaries} planted canaries looked for")
    canary_kinds = tuple(f"canary.{k}" for k in CANARY_KINDS) if canaries else ()
    for kind in FAMILIES + canary_kinds:
        print(f"  {kind:<12} {report.counts.get(kind, 0)}")
    for f in report.findings:
        print(f"  found {f.kind} in {f.file} column {f.column} row {f.row}: {f.text}")
    if not report.shards:
        print(f"FAILED: no release shard (*.parquet) under {root}: nothing was checked")
        return 1
    if report.counts:
        print(f"FAILED: {sum(report.counts.values())} findings")
        return 1
    print("passed: no findings")
    return 0


def cmd_forget(args) -> int:
    from alignx.privacy import add_optout, load_key

    config, data_dir = load(args)
    names = list(args.author)
    if args.file:
        try:
            names += [line.strip() for line in Path(args.file).read_text().splitlines() if line.strip()]
        except OSError as exc:
            raise UserError(f"{args.file}: cannot read ({exc})") from None
    if not names:
        raise UserError("forget: give --author NAME or --file LIST")
    with writing(args, data_dir):
        key = load_key(data_dir / config["anonymize.key_file"])
        added = add_optout(data_dir, key, names)
    print(f"{added} new of {len(names)} name(s) added to {data_dir / 'private' / 'optout.txt'} (as keyed hashes); "
          f"run `alignx run` to rebuild without them")
    return 0
