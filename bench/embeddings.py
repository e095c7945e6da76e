"""Embedding throughput and agreement on real comments: the reference MiniLM against the faster
model specs of alignx/embeddings.py, in the same run.

Texts: a seeded sample of ALIGNX_BENCH_EMBED_N (default 1,000) distinct comment bodies of the
r/ethereum daily threads (../shared/data/reddit/ethereum_daily; 10+ characters, not deleted or
removed), the corpus the annotator labels in an end-to-end run. The whole corpus's share of
repeated bodies is reported too: what "never embed a text twice" saves there.

Per model spec, no disk cache (every text computed), on this machine's CPUs (GPU when torch
sees one): load seconds, encode seconds, comments per second. Agreement with the reference,
on the same texts:

- ``pair_cosine_spearman``: Spearman correlation of the cosine similarity of 20,000 random
  text pairs under the model and under the reference (space-independent: the static model's
  256 dimensions are not MiniLM's 384).
- ``knn10_overlap``: mean share of a text's 10 nearest neighbours that are the same.
- ``anchor_score_pearson``: per taxonomy dimension, Pearson correlation across texts of the
  annotator's raw score (similarity to the dimension's pole-1 anchor minus pole-0 anchor, each
  model with its own anchor vectors); the median and the 10th percentile over the 90.
- ``rating_agreement``: share of (text, dimension) ratings that are equal when each model's
  raw scores are z-scored on this sample and cut as the annotator cuts them (|z| < 0.5 -> 0,
  < 1.5 -> +-1, else +-2); what changing the model would change in the labels, before the
  annotator's calibration is redone for it.

Writes bench/results/embeddings.json.
"""

from __future__ import annotations

import json
import os
import platform
import random
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
DATA = Path(os.environ.get("ALIGNX_SHARED_DATA", ROOT.parent / "shared" / "data"))
RESULTS = ROOT / "bench" / "results"
N = int(os.environ.get("ALIGNX_BENCH_EMBED_N", "1000"))
REFERENCE = "all-MiniLM-L6-v2"
SPECS = (REFERENCE, "all-MiniLM-L6-v2@128", "all-MiniLM-L6-v2-static")


def sample_texts() -> tuple[list[str], dict]:
    """(N distinct real comment bodies, corpus counts)."""
    from alignx.dumps import iter_records

    bodies = [r.get("body") or "" for _, r in iter_records(DATA / "reddit/ethereum_daily/ethereum_comments.zst")
              if isinstance(r, dict)]
    usable = [b for b in bodies if len(b) >= 10 and b.strip() not in ("[deleted]", "[removed]")]
    distinct = sorted(set(usable))
    rng = random.Random(0)
    texts = rng.sample(distinct, min(N, len(distinct)))
    counts = {"comments": len(bodies), "usable_bodies": len(usable), "distinct_usable_bodies": len(distinct),
              "repeated_share": round(1 - len(distinct) / max(len(usable), 1), 4)}
    return texts, counts


def anchor_scores(spec: str, vectors: np.ndarray) -> np.ndarray:
    """The annotator's raw per-dimension scores, shape (n, 90)."""
    from alignx.embeddings import EmbeddingCache
    from annotators.embedding import anchors

    cache = EmbeddingCache(None, spec)
    pairs = anchors()
    diff = cache.encode([a for a, _ in pairs]) - cache.encode([b for _, b in pairs])
    return vectors @ diff.T


def ratings(scores: np.ndarray) -> np.ndarray:
    z = (scores - scores.mean(0)) / np.where(scores.std(0) > 0, scores.std(0), 1.0)
    mag = np.where(np.abs(z) < 0.5, 0, np.where(np.abs(z) < 1.5, 1, 2))
    return np.sign(z) * mag


def _spearman(a: np.ndarray, b: np.ndarray) -> float:
    ra, rb = np.argsort(np.argsort(a)), np.argsort(np.argsort(b))
    return float(np.corrcoef(ra, rb)[0, 1])


def agreement(ref: np.ndarray, other: np.ndarray, ref_scores: np.ndarray, other_scores: np.ndarray) -> dict:
    rng = np.random.default_rng(0)
    i, j = rng.integers(0, len(ref), 20_000), rng.integers(0, len(ref), 20_000)
    pair = _spearman((ref[i] * ref[j]).sum(1), (other[i] * other[j]).sum(1))
    k = 10
    nn_ref = np.argsort(-(ref @ ref.T), axis=1)[:, 1:k + 1]
    nn_other = np.argsort(-(other @ other.T), axis=1)[:, 1:k + 1]
    overlap = np.mean([len(set(a) & set(b)) / k for a, b in zip(nn_ref, nn_other)])
    per_dim = np.array([np.corrcoef(ref_scores[:, d], other_scores[:, d])[0, 1] for d in range(ref_scores.shape[1])])
    return {
        "pair_cosine_spearman": round(pair, 3),
        "knn10_overlap": round(float(overlap), 3),
        "anchor_score_pearson_median": round(float(np.median(per_dim)), 3),
        "anchor_score_pearson_p10": round(float(np.percentile(per_dim, 10)), 3),
        "rating_agreement": round(float((ratings(ref_scores) == ratings(other_scores)).mean()), 3),
    }


def main() -> None:
    import torch

    from alignx.embeddings import EmbeddingCache, load_model

    texts, counts = sample_texts()
    results, vectors, scores = {}, {}, {}
    for spec in SPECS:
        t0 = time.perf_counter()
        load_model(spec)
        load_s = time.perf_counter() - t0
        cache = EmbeddingCache(None, spec)
        t0 = time.perf_counter()
        vectors[spec] = cache.encode(texts)
        seconds = time.perf_counter() - t0
        scores[spec] = anchor_scores(spec, vectors[spec])
        results[spec] = {"dim": int(vectors[spec].shape[1]), "load_seconds": round(load_s, 2),
                         "encode_seconds": round(seconds, 2), "comments_per_s": round(len(texts) / seconds, 1)}
        print(spec, results[spec], flush=True)
    for spec in SPECS[1:]:
        results[spec]["speedup"] = round(results[spec]["comments_per_s"] / results[REFERENCE]["comments_per_s"], 1)
        results[spec]["agreement_with_reference"] = agreement(vectors[REFERENCE], vectors[spec],
                                                              scores[REFERENCE], scores[spec])
    report = {
        "texts": f"{len(texts)} distinct r/ethereum daily comment bodies (seed 0)",
        "mean_chars": round(float(np.mean([len(t) for t in texts])), 1),
        "corpus": counts,
        "device": "cuda" if torch.cuda.is_available() else f"cpu ({os.cpu_count()} cores, torch threads "
                                                             f"{torch.get_num_threads()})",
        "machine": platform.machine(),
        "load_average_at_start": round(os.getloadavg()[0], 2),
        "reference": REFERENCE,
        "models": results,
    }
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / "embeddings.json").write_text(json.dumps(report, indent=2) + "\n")
    print(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
