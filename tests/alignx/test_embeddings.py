"""alignx.embeddings on real r/ethereum comments: model specs, the cache, the static model."""

from __future__ import annotations

import numpy as np
import pytest

from alignx.dumps import iter_records
from alignx.embeddings import STATIC_MODEL, EmbeddingCache, parse_spec


@pytest.fixture(scope="module")
def comments(reddit_dir) -> list[str]:
    """200 real comment bodies: 100 short ones and 100 of 1,500+ characters."""
    bodies = [r["body"] for _, r in iter_records(reddit_dir / "ethereum_daily/ethereum_comments.zst")
              if isinstance(r, dict) and len(r.get("body") or "") >= 20]
    return [b for b in bodies if len(b) < 200][:100] + [b for b in bodies if len(b) >= 1500][:100]


@pytest.fixture(scope="module")
def minilm(comments) -> np.ndarray:
    """The comments embedded by full MiniLM once (the costliest step here), for every test."""
    return EmbeddingCache(None, "all-MiniLM-L6-v2").encode(comments)


def test_spec_names_model_and_token_limit():
    assert parse_spec("all-MiniLM-L6-v2") == ("all-MiniLM-L6-v2", None)
    assert parse_spec("all-MiniLM-L6-v2@128") == ("all-MiniLM-L6-v2", 128)
    with pytest.raises(ValueError, match="must be a token count"):
        EmbeddingCache(None, "all-MiniLM-L6-v2@many")


def test_shorter_limit_changes_only_long_texts(comments, minilm):
    full = minilm
    short = EmbeddingCache(None, "all-MiniLM-L6-v2@128").encode(comments)
    assert full.shape == short.shape == (200, 384) and short.dtype == np.float32
    cos = (full * short).sum(1)
    assert cos[:100].min() > 0.9999  # under 128 tokens: the same vector
    assert cos[100:].max() < 0.9999 and cos[100:].mean() > 0.8  # truncated: close, not equal


def test_cache_never_embeds_a_text_twice(tmp_path, comments):
    cache = EmbeddingCache(tmp_path, "all-MiniLM-L6-v2@128")
    first = cache.encode(comments[:50] + comments[:50])
    assert cache.computed == 50 and np.array_equal(first[:50], first[50:])
    again = EmbeddingCache(tmp_path, "all-MiniLM-L6-v2@128")
    assert np.array_equal(again.encode(comments[:50]), first[:50]) and again.computed == 0
    assert (tmp_path / "all-MiniLM-L6-v2@128").is_dir()  # a spec has its own cache


def test_static_model_tracks_minilm(comments, minilm):
    """The distilled static model (distilled on first use, offline) ranks texts by similarity
    roughly as MiniLM does: far from equal (see bench/results/embeddings.json), far from random."""
    ref = minilm
    static = EmbeddingCache(None, STATIC_MODEL).encode(comments)
    assert static.shape == (200, 256) and static.dtype == np.float32
    assert np.allclose(np.linalg.norm(static, axis=1), 1.0, atol=1e-5)
    i, j = np.triu_indices(200, 1)
    r = np.corrcoef((ref[i] * ref[j]).sum(1), (static[i] * static[j]).sum(1))[0, 1]
    assert r > 0.3
    assert EmbeddingCache(None, STATIC_MODEL).encode([]).shape == (0, 256)
