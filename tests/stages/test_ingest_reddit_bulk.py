"""ingest_reddit's bulk computations give what the per-item reference code gives, on real
comments: near-duplicates against datasketch's own MinHash + MinHashLSH (one text at a time),
parent chains and prompts against the Python walk of alignx.threads."""

from __future__ import annotations

import polars as pl
import pytest

from alignx.threads import ancestor_ids, parent_chains, prompt_expr, reachable_replies, render_prompt
from stages.ingest_reddit.quality import MinHashIndex, near_duplicates, shingle_table, shingles

from test_ingest_reddit_threads import raw_records


def reference_near_duplicates(items: pl.DataFrame, threshold: float, num_perm: int, ngram: int) -> pl.DataFrame:
    """datasketch used one text at a time: oldest first, query, then insert when nothing hits."""
    from datasketch import MinHash, MinHashLSH

    lsh = MinHashLSH(threshold=threshold, num_perm=num_perm)
    removed, kept_by, position = [], [], {}
    ordered = items.sort("created_utc", "id")
    hashes = MinHash.bulk([shingles(t or "", ngram) for t in ordered["text"]], num_perm=num_perm, seed=1)
    for i, m in zip(ordered["id"], hashes):
        hits = lsh.query(m)
        if hits:
            removed.append(i)
            kept_by.append(min(hits, key=position.__getitem__))
        else:
            lsh.insert(i, m)
            position[i] = len(position)
    return pl.DataFrame({"id": removed, "kept_id": kept_by}, schema={"id": pl.String, "kept_id": pl.String})


@pytest.fixture(scope="module")
def cmv(reddit_dir) -> list[dict]:
    return raw_records(reddit_dir / "cmv" / "changemyview_comments.zst")


def test_bulk_minhash_matches_datasketch_on_real_comments(cmv):
    comments = cmv[:3000]
    # plant edited copies and exact copies, so clusters of several sizes exist
    for k, c in enumerate(comments[2000:2040]):
        source = comments[k * 7]
        words = source["body"].split()
        if len(words) > 12:
            words[len(words) // 2] = "EDITED"
        c["body"] = " ".join(words) if k % 2 else source["body"]
    items = pl.DataFrame({"id": [c["id"] for c in comments], "text": [c["body"] for c in comments],
                          "created_utc": [int(float(c["created_utc"])) for c in comments]})
    expected = reference_near_duplicates(items, 0.8, 128, 5)
    assert expected.height > 40  # the planted copies and whatever r/changemyview repeats
    for threshold, num_perm, ngram in ((0.8, 128, 5), (0.5, 64, 3)):
        got = near_duplicates(items, threshold, num_perm, ngram).sort("id")
        assert got.equals(reference_near_duplicates(items, threshold, num_perm, ngram).sort("id"))
    # hashed in pieces (as the parse threads do, chunk by chunk): the same clusters
    index = MinHashIndex(0.8, 128, 5)
    pieces = pl.concat([index.keyed(items.slice(i, 700)) for i in range(0, items.height, 700)])
    assert index.resolve(pieces).sort("id").equals(expected.sort("id"))


def test_shingles_in_bulk_are_the_reference_shingles(cmv):
    texts = [c["body"] for c in cmv[:500]] + ["", "Two words", "ÉCOLE d'été — naïve café_au_lait 42 ½", "a b c d e"]
    grams, owner = shingle_table(pl.Series(texts), 5)
    per_text: dict[int, set[bytes]] = {}
    for g, o in zip(grams.to_list(), owner.tolist()):
        per_text.setdefault(o, set()).add(g.encode())
    assert all(per_text[i] == shingles(t, 5) for i, t in enumerate(texts))


def test_chains_and_prompts_in_bulk_match_the_walk(cmv):
    df = pl.DataFrame({
        "id": [c["id"] for c in cmv], "parent_id": [c["parent_id"][3:] for c in cmv],
        "is_top_level": [c["parent_id"].startswith("t3_") for c in cmv], "body": [c["body"] for c in cmv],
    }).unique("id", keep="first", maintain_order=True)
    linked = df.filter(reachable_replies(df))
    body = dict(linked.select("id", "body").iter_rows())
    for depth in (1, 3):
        walk = parent_chains(linked, depth)
        anc = ancestor_ids(linked, depth)
        cols = [f"a{k}" for k in range(depth, 0, -1)]  # oldest first
        assert anc.select(pl.concat_list(cols).list.drop_nulls())["a" + str(depth)].to_list() \
            == walk["chain_ids"].to_list()
        assert sum(bool(c) for c in walk["chain_ids"].to_list()) > 1000
        frame = anc.with_columns(pl.lit("A post title").alias("title"),
                                 pl.col("id").replace_strict(body).alias("post_body"),
                                 *(pl.col(c).replace_strict(body, default=None).alias(f"b{c}") for c in cols))
        for max_chars in (0, 300):
            got = frame.select(prompt_expr("title", "post_body", [f"b{c}" for c in cols], max_chars).alias("p"))["p"]
            want = [render_prompt("A post title", body[i], [body[x] for x in chain], max_chars)
                    for i, chain in zip(walk["id"], walk["chain_ids"])]
            assert got.to_list() == want
