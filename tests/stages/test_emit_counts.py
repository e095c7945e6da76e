"""Unit tests of what emit counts batch by batch: text digests, demographic poles, shards."""

from __future__ import annotations

import numpy as np
import polars as pl

from alignx.taxonomy import load_taxonomy
from pipeline.io import write_parquet
from stages.emit.bias import DEMOGRAPHIC_GROUP, POLES, pole_counts, pole_shares, user_poles
from stages.emit.stage import _RELEASE_SCHEMA, ShardWriter


def test_text_digests_count_the_texts_two_sets_share():
    from stages.emit.summary import TextDigests

    a, b = TextDigests(), TextDigests()
    texts_a, texts_b = set(), set()
    for i in range(300):  # batches that repeat earlier texts, past the first merge (65,536 digests)
        batch_a = {f"text {j}" for j in range(i * 400, i * 400 + 600)}
        batch_b = {f"text {j}" for j in range(i * 7 + 50_000, i * 7 + 50_100)} | {"é only in b"}
        a.add(batch_a)
        b.add(batch_b)
        texts_a |= batch_a
        texts_b |= batch_b
    assert (len(a), len(b)) == (len(texts_a), len(texts_b))
    assert a.shared(b) == b.shared(a) == len(texts_a & texts_b) > 0


def test_pole_counts_of_batches_give_the_shares_of_every_row_at_once(tmp_path):
    rng = np.random.default_rng(0)
    profiles = rng.choice(np.array(POLES), size=(50, 90))
    dims = [d.index for d in load_taxonomy().group(DEMOGRAPHIC_GROUP)]
    counts = sum(pole_counts(profiles[i:i + 7, dims]) for i in range(0, 50, 7))
    shares = pole_shares(counts, 50)
    for d in load_taxonomy().group(DEMOGRAPHIC_GROUP):
        col = profiles[:, d.index]
        assert shares[d.description] == {"label_1": d.label_1, "label_0": d.label_0,
                                         "share_1": round(float((col == 1.0).mean()), 4),
                                         "share_0": round(float((col == 0.0).mean()), 4),
                                         "share_neutral": round(float((col == 0.5).mean()), 4)}
    # the users' profiles: only those asked for, read a few at a time
    users = pl.DataFrame({"author": [f"u{i}" for i in range(50)], "profile": profiles.tolist()},
                         schema={"author": pl.String, "profile": pl.List(pl.Float32)})
    write_parquet(users, tmp_path / "users.parquet")
    wanted = {f"u{i}" for i in range(0, 50, 3)} | {"not profiled"}
    counts, profiled = user_poles(tmp_path / "users.parquet", wanted, 4)
    assert profiled == 17 and (counts == pole_counts(profiles[::3][:, dims])).all()


def test_shards_are_the_same_bytes_whatever_the_batches_and_hold_one_row_group_at_a_time(tmp_path, monkeypatch):
    import pyarrow.parquet as pq

    import stages.emit.stage as emit

    monkeypatch.setattr(emit, "ROW_GROUP_ROWS", 3)
    rows = [{"id": f"ax-{i:020d}", "source": "reddit", "persona_type": "all", "prompt": f"p{i}", "chosen": "c",
             "rejected": "r", "Preference Direction": [0.5] * 90, "Demographic Information": "",
             "User-Generated Content": [], "Pair-wise Comparative Feedback": [], "score_ratio": None,
             "seconds_between": i, "length_ratio": 1.0} for i in range(23)]
    release = pl.DataFrame(rows, schema=_RELEASE_SCHEMA)
    for n in (23, 0):
        first = None
        for batch in (4, 10, 23, 1):
            out = tmp_path / f"{n}-{batch}"
            writer = ShardWriter(out, "train", n, 10)
            for part in release[:n].iter_slices(batch):
                writer.add(part)
            writer.close()
            files = {f.name: f.read_bytes() for f in out.iterdir()}
            assert sorted(files) == [name for name, _, _ in writer.shards]  # every shard, nothing else
            first = first or files
            assert files == first  # the batches leave no trace in the bytes
        for name, start, end in writer.shards:
            assert pl.read_parquet(out / name).equals(release[start:end])
            # row groups of 3 rows, a shard's last fewer: 10 rows -> 3, 3, 3, 1
            sizes = [pq.ParquetFile(out / name).metadata.row_group(g).num_rows
                     for g in range(pq.ParquetFile(out / name).metadata.num_row_groups)]
            assert sizes == ([3] * ((end - start) // 3) + ([(end - start) % 3] if (end - start) % 3 else [])
                             if end > start else [])
