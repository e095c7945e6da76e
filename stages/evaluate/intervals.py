"""95% intervals of an accuracy: a cluster bootstrap over distinct items, or Wilson's.

Benchmark files repeat items (P-SOUPS: 600 rows, 237 distinct (prompt, chosen, rejected)
items), so rows are not independent draws; resampling whole items keeps that. Wilson's
interval is used only when every row is its own item.
"""

from __future__ import annotations

import math

import numpy as np

WILSON = "wilson"
BOOTSTRAP = "cluster bootstrap over distinct (prompt, chosen, rejected) items"


def wilson(correct: int, n: int, z: float = 1.96) -> tuple[float, float]:
    """95% Wilson score interval of a proportion."""
    if n == 0:
        return (0.0, 0.0)
    p = correct / n
    centre = (p + z * z / (2 * n)) / (1 + z * z / n)
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / (1 + z * z / n)
    return (max(0.0, centre - half), min(1.0, centre + half))


def item_ids(examples: list[dict]) -> np.ndarray:
    """Cluster id per row, shape (n,) int: rows with the same (prompt, chosen, rejected) share one."""
    ids: dict[tuple[str, str, str], int] = {}
    return np.array([ids.setdefault((e["prompt"], e["chosen"], e["rejected"]), len(ids)) for e in examples],
                    dtype=np.int64)


def _resample_counts(n_clusters: int, resamples: int, seed: int) -> np.ndarray:
    """How often each cluster is drawn in each resample, shape (resamples, n_clusters)."""
    rng = np.random.default_rng(seed)
    return rng.multinomial(n_clusters, np.full(n_clusters, 1.0 / n_clusters), size=resamples)


def cluster_bootstrap(values: np.ndarray, clusters: np.ndarray, resamples: int, seed: int) -> tuple[float, float]:
    """Percentile 95% interval of mean(values) resampling whole clusters with replacement.

    values: (n,) float per row (1/0 hits, or a difference of hits); clusters: (n,) int ids."""
    if len(values) == 0:
        return (0.0, 0.0)
    _, inverse = np.unique(clusters, return_inverse=True)
    k = int(inverse.max()) + 1
    sums = np.bincount(inverse, weights=values.astype(float), minlength=k)
    sizes = np.bincount(inverse, minlength=k).astype(float)
    counts = _resample_counts(k, resamples, seed)
    means = (counts @ sums) / (counts @ sizes)
    lo, hi = np.percentile(means, [2.5, 97.5])
    return (float(lo), float(hi))


def accuracy_interval(hits: np.ndarray, clusters: np.ndarray, resamples: int, seed: int
                      ) -> tuple[float, float, str]:
    """(low, high, method): Wilson when every row is a distinct item, else the cluster bootstrap."""
    if len(np.unique(clusters)) == len(clusters):
        lo, hi = wilson(int(hits.sum()), len(hits))
        return lo, hi, WILSON
    lo, hi = cluster_bootstrap(hits.astype(float), clusters, resamples, seed)
    return lo, hi, BOOTSTRAP
