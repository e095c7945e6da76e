"""File helpers shared by every stage: hashing, atomic writes, parquet shards."""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import tempfile
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Iterable, Iterator, Sequence

import polars as pl

#: zstd level for parquet shards; 3 is zstd's default speed/size balance.
PARQUET_COMPRESSION_LEVEL = 3


def sha256_file(path: Path | str, chunk: int = 1 << 20) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        while block := fh.read(chunk):
            h.update(block)
    return h.hexdigest()


def stable_hash(obj: Any) -> str:
    """sha256 of the canonical JSON of ``obj`` (sorted keys): for fingerprints and ids."""
    return hashlib.sha256(json.dumps(obj, sort_keys=True, separators=(",", ":"), default=str).encode()).hexdigest()


#: Called with the target path before every atomic write. Empty in normal runs; the fault
#: injection of ``pipeline.testing`` adds to it (a full disk after N writes).
BEFORE_WRITE: list = []


@contextmanager
def atomic_path(path: Path | str) -> Iterator[Path]:
    """Yield a temporary sibling of ``path``; rename it onto ``path`` only if the block succeeds."""
    for hook in BEFORE_WRITE:
        hook(path)
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    os.close(fd)
    tmp_path = Path(tmp)
    try:
        yield tmp_path
        os.replace(tmp_path, path)
    finally:
        tmp_path.unlink(missing_ok=True)


def write_json(path: Path | str, obj: Any) -> None:
    """Atomically write ``obj`` as indented, key-sorted JSON."""
    with atomic_path(path) as tmp:
        tmp.write_text(json.dumps(obj, indent=2, sort_keys=True, default=str) + "\n", encoding="utf-8")


def write_parquet(df: pl.DataFrame, path: Path | str, *, scratch: bool = False) -> None:
    """Atomically write one parquet file. Same frame, same bytes (no timestamps in the file).

    Outputs are zstd-compressed; ``scratch`` files (a stage's intermediate shard parts, read
    once by its own ``finish``) use lz4, several times faster to write.
    """
    with atomic_path(path) as tmp:
        if scratch:
            df.write_parquet(tmp, compression="lz4", statistics=True)
        else:
            df.write_parquet(tmp, compression="zstd", compression_level=PARQUET_COMPRESSION_LEVEL, statistics=True)


@contextmanager
def parquet_writer(path: Path | str, schema: dict) -> Iterator:
    """Write one parquet file a frame at a time (a row group each), so a stage that produces its
    rows batch by batch never holds them all. Yields ``write(frame)``; the file appears at
    ``path`` only if the block ends without error (``atomic_path``). ``schema`` is the polars
    schema of the columns (a file that receives no frame still has them). Same frames, same
    bytes."""
    import pyarrow.parquet as pq

    arrow = pl.DataFrame(schema=schema).to_arrow().schema
    with atomic_path(path) as tmp, pq.ParquetWriter(tmp, arrow, compression="zstd",
                                                    compression_level=PARQUET_COMPRESSION_LEVEL) as writer:
        yield lambda frame: writer.write_table(frame.select(list(schema)).to_arrow().cast(arrow))


def sorted_frames(frames: Iterable[pl.DataFrame], key: str, bounds: Sequence[str], spill: Path | str
                  ) -> Iterator[pl.DataFrame]:
    """The rows of ``frames`` in order of their unique string column ``key``, one key range at a
    time, so that a stage can write a sorted file of more rows than it can hold (polars' own
    sort, streaming engine included, holds every row: measured at twice the data's size).

    ``bounds``: sorted keys that cut the ranges (range i holds the keys k with
    ``bounds[i-1] <= k < bounds[i]``); take every Nth key of the rows to come, so a range holds
    about N rows. Each frame is cut at the bounds and its pieces spilled to ``spill`` (scratch
    parquet, removed as each range is yielded). Memory: one frame in, or one range out. Same
    frames, same bounds: same output, whatever the order of the frames."""
    spill = Path(spill)
    edges = pl.Series("bounds", sorted(bounds), dtype=pl.String)
    for n, frame in enumerate(frames):
        if not frame.height:
            continue
        ranges = edges.search_sorted(frame[key], side="right").alias("_range")
        for (r,), piece in frame.with_columns(ranges).group_by("_range"):
            write_parquet(piece.drop("_range"), spill / f"{r:06d}" / f"{n:08d}.parquet", scratch=True)
    for folder in sorted(spill.iterdir()) if spill.exists() else []:
        yield pl.read_parquet(sorted(folder.glob("*.parquet"))).sort(key)
        shutil.rmtree(folder)
    shutil.rmtree(spill, ignore_errors=True)


def parquet_rows(path: Path | str) -> int:
    import pyarrow.parquet as pq

    return pq.read_metadata(path).num_rows


def parquet_batches(path: Path | str, rows: int, columns: list[str] | None = None) -> Iterator[pl.DataFrame]:
    """The rows of one parquet file in file order, ``rows`` at a time (``columns`` only, when
    given): a reader of a file larger than memory holds one batch. Each batch is a slice of a
    scan, so polars decodes only the row groups the slice covers (polars writes row groups of
    bounded size); pyarrow's ``iter_batches`` held about twice as much while reading."""
    for start in range(0, parquet_rows(path), rows):
        scan = pl.scan_parquet(path)
        yield (scan.select(columns) if columns else scan).slice(start, rows).collect()
