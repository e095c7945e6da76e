"""Stage ``cluster``: what the corpus talks about, which kinds of users it holds, and how the
90 dimensions correlate.

Config section ``[cluster]``. Upstream: ``anonymize`` (texts: comments with or without their
post), ``annotate`` (ratings).

- Topics: sentence embeddings of every comment (cached by text hash) -> PCA -> HDBSCAN (the
  ``hdbscan`` package), fitted on a seeded sample of at most ``fit_sample`` texts; the rest are
  assigned with ``approximate_predict``. Topic -1 is noise. Keywords by class-based TF-IDF.
- Interests: each topic maps onto the interest dimension the annotator found evidence of (a
  positive rating with evidence) in the largest share of the topic's rated texts, when that
  share is >= ``interest_min_share``; topics below it are reported as candidate new dimensions
  (size, keywords, examples). The annotator's interest instruments are validated against text
  people labelled (``alignx validate-annotator``); a topic centroid's similarity to a label's
  embedding is not: it mapped r/ethereum's main topic onto "Likes gourmet food".
- Archetypes: HDBSCAN over the 90-dimension profiles (docs/design.md's rule) of users with at least
  ``archetype_min_comments`` rated comments; -1 is noise. Assembly stratifies splits by it.
- Correlation: the 90x90 Pearson correlation of single-comment directions, a heatmap and the
  most correlated pairs (the AlignX authors argued from such a matrix that the dimensions are
  not redundant).

Outputs: ``topics/assignments.parquet`` (id, author, topic), ``topics/topics.parquet``,
``archetypes/users.parquet`` (author, archetype, n_comments, profile),
``correlation/matrix.parquet``, ``correlation/heatmap.png``, ``cluster_report.md``.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import polars as pl

from alignx.directions import single_direction
from alignx.embeddings import EmbeddingCache
from pipeline.io import write_parquet
from pipeline.logs import get_logger
from pipeline.stage import Shard, Stage, StageContext, Stats, keys
from alignx.taxonomy import N_DIMENSIONS, load_taxonomy, profile

log = get_logger("cluster")


def fit_topics(vectors: np.ndarray, p: dict, seed: int) -> np.ndarray:
    """Topic label per row of ``vectors`` (n, dim); -1 = noise. Deterministic for a seed."""
    import hdbscan
    from sklearn.decomposition import PCA

    n = len(vectors)
    if n < max(2 * p["min_topic_size"], 3):
        return np.full(n, -1)
    k = min(p["pca_components"], n - 1, vectors.shape[1])
    rng = np.random.default_rng(seed)
    sample = np.sort(rng.choice(n, size=min(n, p["fit_sample"]), replace=False))
    pca = PCA(n_components=k, random_state=seed, svd_solver="randomized" if n > 5000 else "full")
    pca.fit(vectors[sample])
    reduced = pca.transform(vectors).astype(np.float64)
    model = hdbscan.HDBSCAN(min_cluster_size=p["min_topic_size"], min_samples=p["min_samples"] or None,
                            prediction_data=len(sample) < n, core_dist_n_jobs=1)
    model.fit(reduced[sample])
    labels = np.full(n, -1)
    labels[sample] = model.labels_
    if len(sample) < n:
        rest = np.setdiff1d(np.arange(n), sample)
        labels[rest], _ = hdbscan.approximate_predict(model, reduced[rest])
    return labels


def ctfidf_keywords(texts: list[str], labels: np.ndarray, top: int) -> dict[int, list[str]]:
    """Class-based TF-IDF: the words most specific to each topic's concatenated texts."""
    from sklearn.feature_extraction.text import CountVectorizer

    topics = sorted(t for t in set(labels.tolist()) if t >= 0)
    if not topics:
        return {}
    docs = [" ".join(t for t, lab in zip(texts, labels) if lab == topic) for topic in topics]
    vec = CountVectorizer(stop_words="english", token_pattern=r"(?u)\b[a-zA-Z][a-zA-Z]+\b")
    try:
        counts = vec.fit_transform(docs).toarray().astype(float)
    except ValueError:  # nothing but stop words
        return {t: [] for t in topics}
    tf = counts / np.maximum(counts.sum(axis=1, keepdims=True), 1)
    idf = np.log(1 + counts.sum(axis=1).mean() / np.maximum(counts.sum(axis=0), 1))
    scores = tf * idf
    words = vec.get_feature_names_out()
    return {t: [words[j] for j in np.argsort(-scores[i])[:top] if scores[i, j] > 0] for i, t in enumerate(topics)}


def interest_mapping(labels: np.ndarray, ids: list[str], ratings: pl.DataFrame,
                     min_share: float) -> dict[int, tuple[int | None, float]]:
    """topic -> (interest dimension index or None, the share of the topic's rated texts with
    positive evidence on the best one). ``labels`` and ``ids`` align (one per text);
    ``ratings``: annotate's rows (id, ratings, evidence, status). One join and one group-by:
    no per-text Python objects."""
    interests = [d.index for d in load_taxonomy().group("Interests")]
    # a rating without evidence levels (an older cache) counts every non-zero intensity
    evidence = pl.col("evidence") if "evidence" in ratings.columns else pl.lit(None, dtype=pl.List(pl.Int8))
    shares = (pl.DataFrame({"id": ids, "topic": labels}, schema={"id": pl.String, "topic": pl.Int64})
              .filter(pl.col("topic") >= 0)
              .join(ratings.filter(pl.col("status") == "ok").select("id", "ratings", evidence.alias("evidence")),
                    on="id", how="inner")
              .group_by("topic")
              .agg([((pl.col("ratings").list.get(d) > 0) & (pl.col("evidence").list.get(d).fill_null(1) > 0))
                    .mean().alias(str(d)) for d in interests]))
    found = {row[0]: np.array(row[1:], dtype=np.float64) for row in shares.rows()}
    out = {}
    for topic in sorted(set(labels.tolist()) - {-1}):
        share = found.get(topic, np.zeros(len(interests)))
        best = int(np.argmax(share))
        out[topic] = (interests[best] if share[best] >= min_share else None, float(share[best]))
    return out


def user_archetypes(ratings: pl.DataFrame, p: dict) -> pl.DataFrame:
    """author, n_comments, profile (90 floats), archetype (-1 = noise or too few comments)."""
    import hdbscan

    ok = ratings.filter(pl.col("status") == "ok")
    rows = []
    for (author,), group in ok.group_by(["author"], maintain_order=True):
        dirs = np.stack([single_direction(r) for r in group["ratings"].to_list()])
        rows.append((author, len(dirs), profile(dirs).tolist()))
    rows.sort()
    users = pl.DataFrame(rows, schema={"author": pl.String, "n_comments": pl.Int64,
                                       "profile": pl.List(pl.Float32)}, orient="row")
    eligible = (users["n_comments"] >= p["archetype_min_comments"]).to_numpy()
    labels = np.full(users.height, -1)
    if eligible.sum() >= max(2 * p["archetype_min_size"], 3):
        X = np.array(users.filter(pl.Series(eligible))["profile"].to_list(), dtype=np.float64)
        labels[eligible] = hdbscan.HDBSCAN(min_cluster_size=p["archetype_min_size"]).fit(X).labels_
    return users.with_columns(pl.Series("archetype", labels, dtype=pl.Int32))


def correlation(directions: np.ndarray) -> np.ndarray:
    """90x90 Pearson correlation; dimensions that never vary get 0 off the diagonal."""
    with np.errstate(invalid="ignore", divide="ignore"):
        corr = np.corrcoef(directions, rowvar=False)
    corr = np.nan_to_num(corr)
    np.fill_diagonal(corr, 1.0)
    return corr


def heatmap(corr: np.ndarray, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(9, 8), dpi=100)
    im = ax.imshow(corr, cmap="RdBu_r", vmin=-1, vmax=1)
    ax.set_title("Correlation of directions across the 90 AlignX dimensions")
    ax.set_xlabel("dimension")
    ax.set_ylabel("dimension")
    fig.colorbar(im, ax=ax, shrink=0.8)
    fig.tight_layout()
    tmp = path.with_name(".tmp-" + path.name)
    fig.savefig(tmp, format="png", metadata={"Software": None})
    plt.close(fig)
    tmp.replace(path)


class Cluster(Stage):
    name = "cluster"
    version = "2"  # 2: topics map onto interests by the annotator's evidence, not label similarity
    upstream = ("anonymize", "annotate")
    uses = ("run.seed", *keys("cluster", "embedding_model", "pca_components", "fit_sample", "min_topic_size",
                              "min_samples", "keywords", "interest_min_share", "archetype_min_comments",
                              "archetype_min_size", "top_correlations"))
    unit = "comments"
    parallel = False
    description = "topics, interest mapping, user archetypes, dimension correlation"

    def run_shard(self, ctx: StageContext, shard: Shard, out_dir: Path) -> Stats:
        p = ctx.params
        # topics over every kept comment, with or without its post in the inputs
        files = ctx.upstream_files("anonymize", "threads") + ctx.upstream_files("anonymize", "orphans")
        threads = (pl.concat([pl.read_parquet(f, columns=["id", "author", "body"]) for f in files]).sort("id")
                   if files else pl.DataFrame(schema={"id": pl.String, "author": pl.String, "body": pl.String}))
        rating_files = ctx.upstream_files("annotate", "ratings")
        ratings = (pl.concat([pl.read_parquet(f) for f in rating_files]).sort("id") if rating_files else
                   pl.DataFrame(schema={"id": pl.String, "author": pl.String, "ratings": pl.List(pl.Int8),
                                        "status": pl.String}))
        texts = threads["body"].to_list()
        embedder = EmbeddingCache(ctx.data_dir / "cache" / "embeddings", p["embedding_model"])
        vectors = embedder.encode(texts, show_progress=ctx.progress)
        labels = fit_topics(vectors, p, ctx.seed)
        write_parquet(threads.select("id", "author").with_columns(pl.Series("topic", labels, dtype=pl.Int32)),
                      out_dir / "topics" / "assignments.parquet")

        keywords = ctfidf_keywords(texts, labels, p["keywords"])
        mapping = interest_mapping(labels, threads["id"].to_list(), ratings, p["interest_min_share"])
        tax = load_taxonomy()
        topic_rows = []
        for t in sorted(keywords):
            members = np.flatnonzero(labels == t)
            dim, sim = mapping[t]
            topic_rows.append({
                "topic": t, "size": len(members), "keywords": keywords[t],
                "interest_dimension": dim, "interest_label": tax[dim].label_1 if dim is not None else None,
                "evidence_share": round(sim, 4), "examples": [texts[i][:200] for i in members[:3]],
            })
        topics = pl.DataFrame(topic_rows, schema={
            "topic": pl.Int32, "size": pl.Int64, "keywords": pl.List(pl.String), "interest_dimension": pl.Int32,
            "interest_label": pl.String, "evidence_share": pl.Float64, "examples": pl.List(pl.String)})
        write_parquet(topics, out_dir / "topics" / "topics.parquet")

        users = user_archetypes(ratings, p)
        write_parquet(users, out_dir / "archetypes" / "users.parquet")

        ok = ratings.filter(pl.col("status") == "ok")
        dirs = np.stack([single_direction(r) for r in ok["ratings"].to_list()]) if ok.height else np.zeros((0, 90))
        corr = correlation(dirs) if len(dirs) > 1 else np.eye(N_DIMENSIONS)
        write_parquet(pl.DataFrame({f"d{i:02d}": corr[:, i].astype(np.float32) for i in range(N_DIMENSIONS)}),
                      out_dir / "correlation" / "matrix.parquet")
        heatmap(corr, out_dir / "correlation" / "heatmap.png")
        iu = np.triu_indices(N_DIMENSIONS, k=1)
        order = np.argsort(-np.abs(corr[iu]))[: p["top_correlations"]]
        pairs = [(int(iu[0][k]), int(iu[1][k]), float(corr[iu][k])) for k in order]
        (out_dir / "cluster_report.md").write_text(report(topics, users, pairs, labels, p), encoding="utf-8")

        stats = Stats(records_in=len(texts), records_out=len(texts))
        stats.counts.update({
            "topics": topics.height, "noise_texts": int((labels == -1).sum()),
            "topics_mapped": int(topics["interest_dimension"].is_not_null().sum()),
            "topics_uncovered": int(topics["interest_dimension"].is_null().sum()),
            "users": users.height, "archetypes": int(users["archetype"].max() + 1) if users.height else 0,
            "users_noise": int((users["archetype"] == -1).sum()), "embeddings_computed": embedder.computed,
        })
        return stats

    def summary(self, manifest: dict) -> str:
        c = manifest.get("counts", {})
        return (f"{c.get('topics', 0)} topics ({c.get('topics_mapped', 0)} mapped to interests, "
                f"{c.get('topics_uncovered', 0)} uncovered), {c.get('archetypes', 0)} archetypes")


def report(topics: pl.DataFrame, users: pl.DataFrame, pairs, labels: np.ndarray, p: dict) -> str:
    tax = load_taxonomy()
    lines = ["# Cluster report", "",
             f"{len(labels)} texts, {topics.height} topics, {int((labels == -1).sum())} texts in no topic (noise: "
             f"{100 * (labels == -1).mean() if len(labels) else 0:.1f}%).", "",
             "## Topics", "", "Interest dimension: the one the annotator found evidence of in the largest share of "
             "the topic's rated texts (evidence share).", "",
             "| topic | size | keywords | interest dimension | evidence share |", "|---|---|---|---|---|"]
    for r in topics.iter_rows(named=True):
        lines.append(f"| {r['topic']} | {r['size']} | {', '.join(r['keywords'])} | "
                     f"{r['interest_label'] or '(none: candidate new dimension)'} | {r['evidence_share']:.2f} |")
    uncovered = topics.filter(pl.col("interest_dimension").is_null())
    lines += ["", f"## Topics no interest dimension covers (evidence share < {p['interest_min_share']})", ""]
    if uncovered.height == 0:
        lines.append("None.")
    for r in uncovered.iter_rows(named=True):
        lines.append(f"- topic {r['topic']} ({r['size']} texts): {', '.join(r['keywords'])}")
        lines += [f"  - \"{e}\"" for e in r["examples"]]
    n_arch = int(users["archetype"].max() + 1) if users.height else 0
    lines += ["", "## User archetypes", "",
              f"{users.height} users, {n_arch} archetypes, {int((users['archetype'] == -1).sum())} users in none.", ""]
    for a in range(n_arch):
        members = users.filter(pl.col("archetype") == a)
        mean = np.array(members["profile"].to_list()).mean(axis=0)
        strong = [tax[i].label_1 if mean[i] > 0.5 else tax[i].label_0 for i in np.argsort(-np.abs(mean - 0.5))[:5]]
        lines.append(f"- archetype {a}: {members.height} users; strongest: {', '.join(strong)}")
    lines += ["", "## Dimension correlation", "", "![heatmap](correlation/heatmap.png)", "",
              "| dimension | dimension | Pearson r |", "|---|---|---|"]
    lines += [f"| {tax[i].description} | {tax[j].description} | {r:+.2f} |" for i, j, r in pairs]
    return "\n".join(lines) + "\n"
