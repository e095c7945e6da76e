"""Cluster's scalable parts, in-process, on real comments: the assignment gives exactly
hdbscan.approximate_predict's labels, the sample does not depend on how the input is split
into files, and the accumulated statistics equal the ones computed over everything at once."""

from __future__ import annotations

import numpy as np
import polars as pl
import pytest

from alignx.dumps import iter_records
from alignx.embeddings import EmbeddingCache
from alignx.taxonomy import profile
from stages.cluster import topics
from stages.cluster.profiles import Accumulator
from stages.cluster.stage import sample_texts

#: 10 components: in 50, 1,200 comments of 13 unrelated subreddits hold no topic at all
P = {"min_topic_size": 5, "min_samples": 0, "pca_components": 10}


@pytest.fixture(scope="module")
def comments(reddit_dir) -> list[str]:
    """3,000 real comments of 13 subreddits (books, films, sport, programming, ...)."""
    out = []
    for _, r in iter_records(reddit_dir / "qa2015" / "reddit_qa_2015.ndjson.zst"):
        body = r.get("text") or ""
        if len(body) > 30 and body not in ("[deleted]", "[removed]"):
            out.append(body)
        if len(out) == 3000:
            break
    return out


@pytest.fixture(scope="module")
def vectors(comments, tmp_path_factory) -> np.ndarray:
    return EmbeddingCache(tmp_path_factory.mktemp("emb"), "all-MiniLM-L6-v2-static").encode(comments)


def test_assign_gives_approximate_predicts_labels(vectors):
    import hdbscan

    model = topics.fit(vectors[:1200], P, seed=0)
    assert model is not None and model.n_topics >= 2
    rest = model.transform(vectors[1200:])
    assert (model.clusterer.labels_ == model.labels).all()
    expected, _ = hdbscan.approximate_predict(model.clusterer, rest)
    got = topics.assign(model, rest)
    assert (got == expected).all()
    assert 0 < (got >= 0).sum() < len(got)  # some texts in topics, some noise: the rule was exercised


def test_too_small_a_sample_is_no_model(vectors):
    assert topics.fit(vectors[:7], P, seed=0) is None


def test_the_sample_is_the_same_however_the_input_is_split(comments, tmp_path):
    table = pl.DataFrame({"id": [f"t1_{i:05d}" for i in range(len(comments))], "body": comments})
    one = tmp_path / "one.parquet"
    table.write_parquet(one)
    parts = []
    for k, start in enumerate(range(0, table.height, 700)):
        parts.append(tmp_path / f"part-{k}.parquet")
        table.slice(start, 700).write_parquet(parts[-1])
    whole, split = sample_texts([one], 7, 500), sample_texts(parts[::-1], 7, 500)
    assert whole.height == 500 and set(whole["id"]) == set(split["id"])
    assert set(sample_texts([one], 8, 500)["id"]) != set(whole["id"])  # the seed decides it
    assert sample_texts([one], 7, 10_000).height == table.height  # fewer texts than asked: all


def test_keywords_accumulated_in_batches_equal_one_pass(comments):
    labels = np.arange(len(comments)) % 4 - 1
    once, batched = topics.KeywordCounts(comments[:1000], 3), topics.KeywordCounts(comments[:1000], 3)
    once.add(comments, labels)
    for start in range(0, len(comments), 333):
        batched.add(comments[start:start + 333], labels[start:start + 333])
    assert np.array_equal(once.counts, batched.counts)
    assert once.keywords(5) == batched.keywords(5) and all(len(w) == 5 for w in once.keywords(5).values())


def test_profiles_and_correlation_from_sums_equal_the_direct_ones():
    rng = np.random.default_rng(0)
    n = 4000
    ratings = rng.choice([-2, -1, 0, 0, 0, 0, 1, 2], size=(n, 90)).astype(np.int8)
    ratings[:, 7] = 0  # a dimension that never varies: 0 off the diagonal
    authors = [f"u{i % 57}" for i in range(n)]
    frame = pl.DataFrame({"author": authors, "ratings": ratings.tolist(), "status": ["ok"] * n},
                         schema={"author": pl.String, "ratings": pl.List(pl.Int8), "status": pl.String})
    frame = frame.with_columns(pl.when(pl.int_range(pl.len()) % 13 == 0).then(pl.lit("failed"))
                               .otherwise(pl.col("status")).alias("status"))
    acc = Accumulator()
    for start in range(0, n, 900):
        acc.add(frame.slice(start, 900))
    ok = frame.filter(pl.col("status") == "ok")
    dirs = np.where(np.array(ok["ratings"].to_list()) > 0, 1.0, np.where(np.array(ok["ratings"].to_list()) < 0, 0.0, 0.5))
    with np.errstate(invalid="ignore", divide="ignore"):
        direct = np.nan_to_num(np.corrcoef(dirs, rowvar=False))
    np.fill_diagonal(direct, 1.0)
    assert np.allclose(acc.correlation(), direct, atol=1e-9)
    users = acc.profiles()
    assert users["author"].to_list() == sorted(set(ok["author"]))
    for row in users.iter_rows(named=True):
        mine = dirs[(ok["author"] == row["author"]).to_numpy()]
        assert row["n_comments"] == len(mine) and row["profile"] == profile(mine).tolist()


def test_archetypes_above_the_fit_sample_are_fitted_on_a_sample_and_assigned():
    """600 users' profiles from three kinds of users (each dimension 0, 0.5 or 1, a tenth of
    them flipped at random), 40 with too few comments: above ``archetype_fit_sample`` HDBSCAN
    sees only the sampled users, the others get approximate_predict's archetype; at or below it,
    HDBSCAN sees every user, as before the sample existed."""
    import hdbscan

    from stages.cluster.stage import archetypes

    rng = np.random.default_rng(5)
    kinds = rng.choice([0.0, 0.5, 1.0], size=(3, 90))
    kind = rng.integers(0, 3, size=600)
    profiles = np.where(rng.random((600, 90)) < 0.1, rng.choice([0.0, 0.5, 1.0], size=(600, 90)), kinds[kind])
    users = pl.DataFrame({"author": [f"user{i:03d}" for i in range(600)],
                          "n_comments": np.where(np.arange(600) % 15 == 0, 1, 5),
                          "profile": profiles.tolist()},
                         schema={"author": pl.String, "n_comments": pl.Int64, "profile": pl.List(pl.Float32)})
    p = {"archetype_min_comments": 3, "archetype_min_size": 3, "archetype_fit_sample": 200}
    found = archetypes(users, p, seed=0)["archetype"].to_numpy()
    eligible = np.flatnonzero(users["n_comments"].to_numpy() >= 3)
    assert (found[users["n_comments"].to_numpy() < 3] == -1).all()
    X = np.array(users["profile"].gather(eligible).to_list(), dtype=np.float64)
    keys = np.array([topics.sample_key(0, a) for a in users["author"].gather(eligible).to_list()])
    sampled = np.zeros(len(eligible), dtype=bool)
    sampled[np.argsort(keys, kind="stable")[:200]] = True
    fitted = hdbscan.HDBSCAN(min_cluster_size=3, prediction_data=True).fit(X[sampled])
    assert (found[eligible][sampled] == fitted.labels_).all()
    expected, _ = hdbscan.approximate_predict(fitted, X[~sampled])
    assert (found[eligible][~sampled] == expected).all()
    # each kind of user is one archetype, whichever side of the sample the user fell on
    for k in range(3):
        labels = found[eligible][kind[eligible] == k]
        assert np.mean(labels == np.bincount(labels[labels >= 0]).argmax()) > 0.9
    # the sample is the users' own (seed and author), not their order
    assert (archetypes(users.reverse(), p, seed=0)["archetype"].to_numpy()[::-1] == found).all()
    everyone = archetypes(users, {**p, "archetype_fit_sample": 600}, seed=0)["archetype"].to_numpy()
    assert (everyone[eligible] == hdbscan.HDBSCAN(min_cluster_size=3).fit(X).labels_).all()
