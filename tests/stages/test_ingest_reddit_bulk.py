"""ingest_reddit's bulk computations give what the per-item reference code gives, on real
comments: near-duplicates against datasketch's own MinHash + MinHashLSH (one text at a time,
with the stage's shingle hash; and with datasketch's default sha1 shingle hash, to which they
agree on real r/ethereum comments), parent chains and prompts against the Python walk of
alignx.threads."""

from __future__ import annotations

import polars as pl
import pytest

from alignx.threads import ancestor_ids, parent_chains, prompt_expr, reachable_replies, render_prompt
from stages.ingest_reddit.quality import (MinHashIndex, datasketch_near_duplicates, near_duplicates, shingle_hash,
                                          shingle_hashes, shingles)

from test_ingest_reddit_threads import raw_records


def stage_hash(shingle: bytes) -> int:
    """The stage's shingle hash of one ``shingles`` shingle (its words joined by spaces)."""
    return shingle_hash(shingle.decode().split(" ") if shingle else [])


def reference_near_duplicates(items: pl.DataFrame, threshold: float, num_perm: int, ngram: int,
                              hashfunc=stage_hash) -> pl.DataFrame:
    """datasketch one text at a time (quality.datasketch_near_duplicates), by default with the
    stage's shingle hash."""
    return datasketch_near_duplicates(items, threshold, num_perm, ngram, hashfunc)


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


def test_shingle_hashes_in_bulk_are_the_reference_hashes(cmv):
    texts = [c["body"] for c in cmv[:500]] + ["", "Two words", "ÉCOLE d'été — naïve café_au_lait 42 ½", "a b c d e"]
    hashes, owner = shingle_hashes(pl.Series(texts), 5)
    per_text: dict[int, set[int]] = {}
    for h, o in zip(hashes.tolist(), owner.tolist()):
        per_text.setdefault(o, set()).add(h)
    assert all(per_text[i] == {stage_hash(s) for s in shingles(t, 5)} for i, t in enumerate(texts))


def test_near_duplicates_agree_with_datasketch_default_hash_on_real_ethereum_comments(reddit_dir):
    """The stage hashes a shingle from its words' hashes, datasketch by default with sha1 of the
    shingle: same permutations and bands, different hash, so a pair's estimated similarity
    differs by sampling noise. On 20,000 real r/ethereum comments the texts either removes are
    removed by both (with the same kept text) for at least 95% of them (measured: see
    bench/results/ingest.json, near_duplicate_agreement)."""
    rows = raw_records(reddit_dir / "ethereum_daily" / "ethereum_comments.zst")[:20000]
    items = pl.DataFrame({"id": [c["id"] for c in rows], "text": [c.get("body") or "" for c in rows],
                          "created_utc": [int(float(c["created_utc"])) for c in rows]})
    ours = near_duplicates(items, 0.8, 128, 5)
    theirs = reference_near_duplicates(items, 0.8, 128, 5, hashfunc=None)
    assert theirs.height > 300  # r/ethereum repeats itself ("gm", copypasta, bot-like templates)
    agree = ours.join(theirs, on=["id", "kept_id"]).height
    either = len(set(ours["id"]) | set(theirs["id"]))
    assert agree / either >= 0.95, (agree, either, ours.height, theirs.height)


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


def test_lsh_params_and_permutations_are_datasketchs():
    """The stage computes datasketch's band split and permutations itself (importing datasketch
    imports scipy, 0.8 s of CPU per worker process): they must be the same numbers."""
    from datasketch import MinHash, MinHashLSH

    from stages.ingest_reddit.quality import lsh_params, permutations

    for threshold, num_perm in ((0.8, 128), (0.5, 64), (0.9, 256), (0.7, 100), (0.3, 32)):
        lsh = MinHashLSH(threshold=threshold, num_perm=num_perm)
        assert lsh_params(threshold, num_perm) == (lsh.b, lsh.r)
        ref = MinHash(num_perm=num_perm, seed=1)
        assert ref.scheme == "affine32"
        a, b = permutations(num_perm)
        assert (a == ref.permutations[0]).all() and (b == ref.permutations[1]).all()
