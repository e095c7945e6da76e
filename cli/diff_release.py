"""alignx diff-release: what changed between two releases."""

from __future__ import annotations

from pathlib import Path

from cli.common import add_common


def register(sub) -> None:
    p = sub.add_parser("diff-release", help="added, removed and changed example ids between two releases",
                       description="Compare two release folders by example id; a changed example has the same id "
                       "and different content. For a changelog after `alignx forget` or a new month of data.")
    p.add_argument("old", metavar="OLD")
    p.add_argument("new", metavar="NEW")
    p.add_argument("--ids", action="store_true", help="list every id, not only the counts and a sample")
    add_common(p)
    p.set_defaults(func=cmd_diff_release)


def cmd_diff_release(args) -> int:
    from stages.emit.diff import diff_releases

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
