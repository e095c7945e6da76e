"""``alignx diff-release OLD NEW``: which example ids a rebuild added, removed or changed."""

from __future__ import annotations

from pathlib import Path

import polars as pl

from pipeline.errors import UserError
from pipeline.io import stable_hash


def release_rows(path: Path) -> dict[str, str]:
    """id -> hash of the row's content (split included), over every shard of a release folder."""
    files = sorted(path.glob("*.parquet"))
    if not files:
        raise UserError(f"{path}: no parquet shards; point at a release folder such as data/release/<emit.version>")
    out = {}
    for f in files:
        split = f.name.split("-", 1)[0]
        for row in pl.read_parquet(f).iter_rows(named=True):
            out[row["id"]] = stable_hash([split, row])
    return out


def diff_releases(old: Path, new: Path) -> dict:
    a, b = release_rows(old), release_rows(new)
    return {
        "added": sorted(set(b) - set(a)),
        "removed": sorted(set(a) - set(b)),
        "changed": sorted(i for i in set(a) & set(b) if a[i] != b[i]),
        "unchanged": sum(1 for i in set(a) & set(b) if a[i] == b[i]),
    }
