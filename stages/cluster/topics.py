"""Topics fitted once on a seeded sample, then every text assigned batch by batch.

Why this shape: HDBSCAN's time and memory grow faster than its input, and
``hdbscan.approximate_predict`` queries a ball tree that in 50 dimensions is no faster than
brute force (about 2 ms a text: half an hour for a million). So the model is fitted on at most
``fit_sample`` texts chosen by a hash of (seed, id) — the same texts whatever the order or
number of input files — and every other text gets the label ``approximate_predict`` would give
it (``assign``: its rule, with the neighbours found by a matrix product in blocks). Memory is
that of the sample and one batch, whatever the corpus.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

import numpy as np

def sample_key(seed: int, text_id: str) -> float:
    """A uniform number in [0, 1) fixed by the seed and the text's id: the sample is the
    ``fit_sample`` texts with the smallest keys."""
    digest = hashlib.blake2b(f"{seed}:{text_id}".encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big") / 2.0 ** 64


@dataclass
class TopicModel:
    """PCA and HDBSCAN fitted on the sample, and what ``assign`` needs of them."""

    pca: object  # None: the points are HDBSCAN's own space (archetypes)
    clusterer: object  # the fitted hdbscan.HDBSCAN (prediction data included), for comparisons
    reduced: np.ndarray  # (m, k) the sample in PCA space
    labels: np.ndarray  # (m,) the sample's topics, -1 = noise
    core: np.ndarray  # (m,) HDBSCAN's core distances of the sample
    min_samples: int
    point_parent: np.ndarray  # (m,) the condensed-tree cluster each sample text falls out of
    point_lambda: np.ndarray  # (m,) the lambda at which it falls out
    cluster_parent: np.ndarray  # cluster id -> its parent cluster (-1: none)
    cluster_lambda: np.ndarray  # cluster id -> the lambda at which it splits off its parent
    cluster_label: np.ndarray  # cluster id -> its topic (-1: not a selected cluster)
    root: int

    @property
    def n_topics(self) -> int:
        return int(self.labels.max() + 1) if len(self.labels) else 0

    def transform(self, vectors: np.ndarray) -> np.ndarray:
        return (self.pca.transform(vectors) if self.pca is not None else vectors).astype(np.float64)


def fit(vectors: np.ndarray, p: dict, seed: int) -> TopicModel | None:
    """PCA then HDBSCAN over the sample's vectors; None when the sample is too small to hold
    two topics (every text is then noise)."""
    from sklearn.decomposition import PCA

    m = len(vectors)
    if m < max(2 * p["min_topic_size"], 3):
        return None
    k = min(p["pca_components"], m - 1, vectors.shape[1])
    pca = PCA(n_components=k, random_state=seed, svd_solver="randomized" if m > 5000 else "full").fit(vectors)
    return tree_model(pca.transform(vectors).astype(np.float64), p["min_topic_size"], p["min_samples"], pca)


def tree_model(points: np.ndarray, min_cluster_size: int, min_samples: int, pca=None) -> TopicModel:
    """HDBSCAN over ``points`` (float64; already in ``pca``'s space when given) and what
    ``assign`` needs of its condensed tree. Archetypes use it without PCA."""
    import hdbscan

    m = len(points)
    model = hdbscan.HDBSCAN(min_cluster_size=min_cluster_size, min_samples=min_samples or None,
                            prediction_data=True, core_dist_n_jobs=1).fit(points)
    tree = model.condensed_tree_.to_numpy()
    is_point = tree["child_size"] == 1
    point_parent = np.full(m, -1, dtype=np.int64)
    point_lambda = np.zeros(m)
    point_parent[tree["child"][is_point]] = tree["parent"][is_point]
    point_lambda[tree["child"][is_point]] = tree["lambda_val"][is_point]
    top = int(max(tree["parent"].max(initial=m), tree["child"].max(initial=m))) + 1
    cluster_parent = np.full(top, -1, dtype=np.int64)
    cluster_lambda = np.zeros(top)
    clusters = ~is_point
    cluster_parent[tree["child"][clusters]] = tree["parent"][clusters]
    cluster_lambda[tree["child"][clusters]] = tree["lambda_val"][clusters]
    cluster_label = np.full(top, -1, dtype=np.int64)
    for cid, label in model.prediction_data_.cluster_map.items():
        cluster_label[int(cid)] = int(label)
    return TopicModel(pca=pca, clusterer=model, reduced=points, labels=model.labels_.astype(np.int64),
                      core=np.asarray(model.prediction_data_.core_distances, dtype=np.float64),
                      min_samples=int(model.min_samples or model.min_cluster_size),
                      point_parent=point_parent, point_lambda=point_lambda, cluster_parent=cluster_parent,
                      cluster_lambda=cluster_lambda, cluster_label=cluster_label,
                      root=int(tree["parent"].min()) if len(tree) else m)


def neighbours(x: np.ndarray, base: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    """(distances, indices), each (n, k) ascending: the ``k`` nearest rows of ``base`` to each
    row of ``x``, by brute force (scikit-learn's chunked distance reduction: in 50 dimensions a
    tree prunes nothing, and this is about 20x faster than hdbscan's ball-tree query)."""
    from sklearn.neighbors import NearestNeighbors

    k = min(k, len(base))
    return NearestNeighbors(n_neighbors=k, algorithm="brute").fit(base).kneighbors(x)


def assign(model: TopicModel, reduced: np.ndarray) -> np.ndarray:
    """The topic (or archetype) of each row of ``reduced`` (points outside the sample, in the
    model's space: PCA's for topics, the profiles' own for archetypes) by
    ``hdbscan.approximate_predict``'s rule: the nearest sample text by mutual reachability
    among the 2 x min_samples nearest, then up the condensed tree to the cluster that still
    held that text at the new text's lambda; a cluster that is no topic gives -1 (noise)."""
    if len(reduced) == 0:
        return np.zeros(0, dtype=np.int64)
    ms = model.min_samples
    dist, idx = neighbours(reduced, model.reduced, 2 * ms)
    point_core = dist[:, min(ms, dist.shape[1] - 1)]
    mr = np.maximum(np.maximum(model.core[idx], point_core[:, None]), dist)
    j = np.argmin(mr, axis=1)
    rows = np.arange(len(reduced))
    nearest, mr_best = idx[rows, j], mr[rows, j]
    with np.errstate(divide="ignore"):
        lam = np.where(mr_best > 0, 1.0 / mr_best, np.finfo(np.float64).max)
    cluster = model.point_parent[nearest]
    walking = model.point_lambda[nearest] > lam
    while True:
        inside = walking & (cluster > model.root)
        parent = np.where(inside, model.cluster_parent[np.where(inside, cluster, 0)], -1)
        step = inside & (parent >= 0) & (model.cluster_lambda[np.where(inside, cluster, 0)] >= lam)
        if not step.any():
            break
        cluster = np.where(step, parent, cluster)
        walking = step
    return np.where(cluster >= 0, model.cluster_label[np.maximum(cluster, 0)], -1)


class KeywordCounts:
    """Word counts per topic, accumulated batch by batch, for class-based TF-IDF keywords. The
    vocabulary is the sample's (words seen only outside it are not counted)."""

    def __init__(self, sample_texts: list[str], n_topics: int):
        from sklearn.feature_extraction.text import CountVectorizer

        self.vec = CountVectorizer(stop_words="english", token_pattern=r"(?u)\b[a-zA-Z][a-zA-Z]+\b")
        try:
            self.vec.fit(sample_texts)
            self.words = self.vec.get_feature_names_out()
        except ValueError:  # nothing but stop words
            self.vec, self.words = None, np.array([], dtype=object)
        self.counts = np.zeros((n_topics, len(self.words)))

    def add(self, texts: list[str], labels: np.ndarray) -> None:
        import scipy.sparse as sp

        keep = labels >= 0
        if self.vec is None or not keep.any():
            return
        x = self.vec.transform([t for t, k in zip(texts, keep) if k])
        lab = labels[keep]
        onehot = sp.csr_matrix((np.ones(len(lab)), (lab, np.arange(len(lab)))), shape=(len(self.counts), len(lab)))
        self.counts += (onehot @ x).toarray()

    def keywords(self, top: int) -> dict[int, list[str]]:
        """topic -> its ``top`` most specific words (class-based TF-IDF)."""
        counts = self.counts
        tf = counts / np.maximum(counts.sum(axis=1, keepdims=True), 1)
        idf = np.log(1 + counts.sum(axis=1).mean() / np.maximum(counts.sum(axis=0), 1)) if len(counts) else 0
        scores = tf * idf
        return {t: [str(self.words[j]) for j in np.argsort(-scores[t], kind="stable")[:top] if scores[t, j] > 0]
                for t in range(len(counts))}
