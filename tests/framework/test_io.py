"""pipeline.io's streamed parquet writer: what a stage writes batch by batch."""

from __future__ import annotations

import numpy as np
import polars as pl
import pytest

from pipeline.io import parquet_writer, sha256_file, sorted_frames

SCHEMA = {"id": pl.String, "topic": pl.Int32}


def frames():
    return [pl.DataFrame({"id": [f"c{i}" for i in range(s, s + 3)], "topic": [s, -1, 2]}, schema=SCHEMA)
            for s in (0, 3, 6)]


def test_frames_written_one_at_a_time_read_back_as_one_table(tmp_path):
    path = tmp_path / "out.parquet"
    with parquet_writer(path, SCHEMA) as write:
        for f in frames():
            write(f.select("topic", "id"))  # columns in any order: written in the schema's
    assert pl.read_parquet(path).equals(pl.concat(frames()))
    again = tmp_path / "again.parquet"
    with parquet_writer(again, SCHEMA) as write:
        for f in frames():
            write(f)
    assert sha256_file(path) == sha256_file(again)  # same frames, same bytes


def test_no_frame_gives_an_empty_file_with_the_columns(tmp_path):
    with parquet_writer(tmp_path / "empty.parquet", SCHEMA):
        pass
    assert pl.read_parquet(tmp_path / "empty.parquet").schema == pl.Schema(SCHEMA)


def test_an_error_midway_leaves_no_file(tmp_path):
    path = tmp_path / "out.parquet"
    with pytest.raises(RuntimeError), parquet_writer(path, SCHEMA) as write:
        write(frames()[0])
        raise RuntimeError("killed")
    assert list(tmp_path.iterdir()) == []  # neither the file nor its temporary


def test_sorted_frames_sorts_more_rows_than_one_range_holds(tmp_path):
    """An external sort: the frames' rows come back in key order, a range at a time, whatever
    the order of the frames; the spill folder is gone afterwards."""
    rng = np.random.default_rng(0)
    keys = [f"c_{k:08x}" for k in rng.permutation(1000) * 7919]
    table = pl.DataFrame({"id": keys, "topic": np.arange(1000)}, schema={"id": pl.String, "topic": pl.Int64})
    parts = [table[i:i + 137] for i in range(0, 1000, 137)] + [table[:0]]
    bounds = sorted(keys)[100::100]
    spill = tmp_path / "spill"
    ranges = list(sorted_frames(parts, "id", bounds, spill))
    assert [r.height for r in ranges] == [100] * 10  # one range at a time, never the whole table
    assert pl.concat(ranges).equals(table.sort("id"))
    assert pl.concat(sorted_frames(reversed(parts), "id", bounds, spill)).equals(table.sort("id"))
    assert not spill.exists()
    assert list(sorted_frames([table[:0]], "id", bounds, spill)) == []
