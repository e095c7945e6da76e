"""Near-duplicate removal of stage ``ingest_reddit``: MinHash LSH over word shingles (datasketch,
as datatrove and NeMo Curator do), keeping the earliest text of each cluster.

Reddit repeats itself: copypasta, bot-like templates, the same answer pasted into several
threads. Two texts whose word ``ngram``-shingle sets have an estimated Jaccard similarity of at
least ``threshold`` are near-duplicates; a text shorter than ``ngram`` words is one shingle
(so only its exact copies match).
"""

from __future__ import annotations

import re

import polars as pl
from datasketch import MinHash, MinHashLSH

WORD = re.compile(r"\w+")
#: Seed of the MinHash permutations: fixed, so the same corpus always gives the same clusters.
MINHASH_SEED = 1


def shingles(text: str, ngram: int) -> set[bytes]:
    """Lower-cased word ``ngram``-grams of ``text`` (the whole text when it is shorter)."""
    words = WORD.findall(text.lower())
    if len(words) < ngram:
        return {" ".join(words).encode()}
    return {" ".join(words[i:i + ngram]).encode() for i in range(len(words) - ngram + 1)}


def near_duplicates(items: pl.DataFrame, threshold: float, num_perm: int, ngram: int) -> pl.DataFrame:
    """Which texts repeat an earlier one.

    ``items``: id, text, created_utc (seconds). Texts are visited oldest first (ties by id);
    each is kept unless the LSH index already holds a near-duplicate, in which case it joins
    the cluster of the earliest such text. Returns id, kept_id for every removed text
    (``kept_id`` = the cluster's earliest text). Cost: one MinHash per text (num_perm hashes
    per shingle) and one LSH query.
    """
    lsh = MinHashLSH(threshold=threshold, num_perm=num_perm)
    removed, kept_by = [], []
    position: dict[str, int] = {}  # kept id -> its rank in time
    ordered = items.sort("created_utc", "id")
    hashes = MinHash.bulk([shingles(t or "", ngram) for t in ordered["text"]], num_perm=num_perm, seed=MINHASH_SEED)
    for i, m in zip(ordered["id"], hashes):
        hits = lsh.query(m)
        if hits:
            removed.append(i)
            kept_by.append(min(hits, key=position.__getitem__))
        else:
            lsh.insert(i, m)
            position[i] = len(position)
    return pl.DataFrame({"id": removed, "kept_id": kept_by}, schema={"id": pl.String, "kept_id": pl.String})
