"""pipeline.io's streamed parquet writer: what a stage writes batch by batch."""

from __future__ import annotations

import polars as pl
import pytest

from pipeline.io import parquet_writer, sha256_file

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
