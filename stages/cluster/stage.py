"""Stage ``cluster``: what the corpus talks about, which kinds of users it holds, and how the
90 dimensions correlate.

Config section ``[cluster]``. Upstream: ``anonymize`` (texts: comments with or without their
post), ``annotate`` (ratings).

- Topics: sentence embeddings of every comment (cached by text hash) -> PCA -> HDBSCAN (the
  ``hdbscan`` package), fitted on a hashed sample of at most ``fit_sample`` texts; every other
  text gets, batch by batch, the label ``approximate_predict`` would give it (``topics.py``).
  Topic -1 is noise. Keywords by class-based TF-IDF over the sample's vocabulary.
- Interests: each topic maps onto the interest dimension the annotator found evidence of (a
  positive rating with evidence) in the largest share of the topic's rated texts, when that
  share is >= ``interest_min_share``; topics below it are reported as candidate new dimensions
  (size, keywords, examples). The annotator's interest instruments are validated against text
  people labelled (``alignx validate-annotator``); a topic centroid's similarity to a label's
  embedding is not: it mapped r/ethereum's main topic onto "Likes gourmet food".
- Archetypes: HDBSCAN over the 90-dimension profiles (docs/design.md's rule) of users with at least
  ``archetype_min_comments`` rated comments; -1 is noise. Assembly stratifies splits by it.
- Correlation: the 90x90 Pearson correlation of single-comment directions (from sums
  accumulated file by file, ``profiles.py``), a heatmap and the most correlated pairs (the AlignX authors argued from such a matrix that the dimensions are
  not redundant).

Outputs: ``topics/assignments.parquet`` (id, author, topic), ``topics/topics.parquet``,
``archetypes/users.parquet`` (author, archetype, n_comments, profile),
``correlation/matrix.parquet``, ``correlation/heatmap.png``, ``cluster_report.md``.
"""

from __future__ import annotations

import heapq
from pathlib import Path

import numpy as np
import polars as pl

from alignx.embeddings import EmbeddingCache
from alignx.taxonomy import N_DIMENSIONS, load_taxonomy
from pipeline.io import parquet_writer, write_parquet
from pipeline.logs import get_logger, progress
from pipeline.stage import Shard, Stage, StageContext, Stats, keys
from stages.cluster import topics
from stages.cluster.profiles import Accumulator

log = get_logger("cluster")

#: Texts embedded and assigned at once: what bounds the stage's memory beside the sample.
BATCH_ROWS = 20_000


def sample_texts(files: list[Path], seed: int, size: int) -> pl.DataFrame:
    """(id, body) of the topic model's sample: the ``size`` texts with the smallest
    ``topics.sample_key`` (every text when there are fewer), in file order. Two passes over
    the files' ids, never every body at once."""
    heap: list[tuple[float, str]] = []  # the smallest keys so far, as a max-heap
    for f in files:
        for text_id in pl.read_parquet(f, columns=["id"])["id"].to_list():
            key = topics.sample_key(seed, text_id)
            if len(heap) < size:
                heapq.heappush(heap, (-key, text_id))
            elif key < -heap[0][0]:
                heapq.heapreplace(heap, (-key, text_id))
    chosen = pl.Series("id", [i for _, i in heap], dtype=pl.String)
    parts = [pl.read_parquet(f, columns=["id", "body"]).filter(pl.col("id").is_in(chosen.implode())) for f in files]
    return pl.concat(parts) if parts else pl.DataFrame(schema={"id": pl.String, "body": pl.String})


def text_batches(files: list[Path]):
    """(id, author, body) frames of at most ``BATCH_ROWS`` rows, file by file."""
    for f in files:
        table = pl.read_parquet(f, columns=["id", "author", "body"])
        for start in range(0, table.height, BATCH_ROWS):
            yield table.slice(start, BATCH_ROWS)


def interest_mapping(assigned: pl.LazyFrame, ratings: pl.LazyFrame, topics: list[int],
                     min_share: float) -> dict[int, tuple[int | None, float]]:
    """topic -> (interest dimension index or None, the share of the topic's rated texts with
    positive evidence on the best one). ``assigned``: (id, topic) of every text; ``ratings``:
    annotate's rows (id, ratings, evidence, status). One join and one group-by, streamed: no
    per-text Python objects, no table of every text in memory."""
    interests = [d.index for d in load_taxonomy().group("Interests")]
    # a rating without evidence levels (an older cache) counts every non-zero intensity
    evidence = (pl.col("evidence") if "evidence" in ratings.collect_schema().names()
                else pl.lit(None, dtype=pl.List(pl.Int8)))
    shares = (assigned.filter(pl.col("topic") >= 0)
              .join(ratings.filter(pl.col("status") == "ok").select("id", "ratings", evidence.alias("evidence")),
                    on="id", how="inner")
              .group_by("topic")
              .agg([((pl.col("ratings").list.get(d) > 0) & (pl.col("evidence").list.get(d).fill_null(1) > 0))
                    .mean().alias(str(d)) for d in interests])
              .collect(engine="streaming"))
    found = {row[0]: np.array(row[1:], dtype=np.float64) for row in shares.rows()}
    out = {}
    for topic in topics:
        share = found.get(topic, np.zeros(len(interests)))
        best = int(np.argmax(share))
        out[topic] = (interests[best] if share[best] >= min_share else None, float(share[best]))
    return out


def archetypes(users: pl.DataFrame, p: dict) -> pl.DataFrame:
    """``users`` (author, n_comments, profile) with archetype: HDBSCAN over the profiles of the
    users with at least ``archetype_min_comments`` rated comments (-1 = noise or too few)."""
    import hdbscan

    eligible = (users["n_comments"] >= p["archetype_min_comments"]).to_numpy()
    labels = np.full(users.height, -1)
    if eligible.sum() >= max(2 * p["archetype_min_size"], 3):
        X = np.array(users.filter(pl.Series(eligible))["profile"].to_list(), dtype=np.float64)
        labels[eligible] = hdbscan.HDBSCAN(min_cluster_size=p["archetype_min_size"]).fit(X).labels_
    return users.with_columns(pl.Series("archetype", labels, dtype=pl.Int32))


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
    version = "3"  # 3: topics fitted on a hashed sample, every text assigned batch by batch; sums, not tables
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
        rating_files = ctx.upstream_files("annotate", "ratings")
        embedder = EmbeddingCache(ctx.data_dir / "cache" / "embeddings", p["embedding_model"])

        sample = sample_texts(files, ctx.seed, p["fit_sample"])
        model = topics.fit(embedder.encode(sample["body"].to_list()), p, ctx.seed) if sample.height else None
        n_topics = model.n_topics if model else 0
        fitted = dict(zip(sample["id"].to_list(), model.labels.tolist())) if model else {}
        keywords = topics.KeywordCounts(sample["body"].to_list(), n_topics)
        sizes = np.zeros(n_topics, dtype=np.int64)
        examples: dict[int, list[str]] = {t: [] for t in range(n_topics)}
        n_texts = noise = 0
        assignments = out_dir / "topics" / "assignments.parquet"
        with parquet_writer(assignments, {"id": pl.String, "author": pl.String, "topic": pl.Int32}) as write:
            for batch in progress(text_batches(files), enabled=ctx.progress, desc="cluster: assign topics",
                                  unit="batch"):
                texts = batch["body"].to_list()
                labels = np.full(len(texts), -1, dtype=np.int64)
                if model is not None:
                    ids = batch["id"].to_list()
                    known = np.array([i in fitted for i in ids], dtype=bool)
                    labels[known] = [fitted[i] for i, k in zip(ids, known) if k]
                    rest = np.flatnonzero(~known)
                    if len(rest):
                        vectors = embedder.encode([texts[i] for i in rest])
                        labels[rest] = topics.assign(model, model.transform(vectors))
                write(batch.select("id", "author").with_columns(pl.Series("topic", labels, dtype=pl.Int32)))
                keywords.add(texts, labels)
                sizes += np.bincount(labels[labels >= 0], minlength=n_topics)[:n_topics]
                for i in np.flatnonzero(labels >= 0):
                    if len(examples[labels[i]]) < 3:
                        examples[labels[i]].append(texts[i][:200])
                n_texts += len(texts)
                noise += int((labels == -1).sum())

        ratings = (pl.scan_parquet(rating_files) if rating_files else pl.LazyFrame(schema={
            "id": pl.String, "author": pl.String, "ratings": pl.List(pl.Int8), "status": pl.String}))
        mapping = interest_mapping(pl.scan_parquet(assignments).select("id", "topic"), ratings,
                                   list(range(n_topics)), p["interest_min_share"])
        words = keywords.keywords(p["keywords"])
        tax = load_taxonomy()
        topic_rows = []
        for t in range(n_topics):
            dim, share = mapping[t]
            topic_rows.append({
                "topic": t, "size": int(sizes[t]), "keywords": words[t],
                "interest_dimension": dim, "interest_label": tax[dim].label_1 if dim is not None else None,
                "evidence_share": round(share, 4), "examples": examples[t],
            })
        topic_table = pl.DataFrame(topic_rows, schema={
            "topic": pl.Int32, "size": pl.Int64, "keywords": pl.List(pl.String), "interest_dimension": pl.Int32,
            "interest_label": pl.String, "evidence_share": pl.Float64, "examples": pl.List(pl.String)})
        write_parquet(topic_table, out_dir / "topics" / "topics.parquet")

        acc = Accumulator()
        for f in rating_files:
            acc.add(pl.read_parquet(f, columns=["author", "ratings", "status"]))
        users = archetypes(acc.profiles(), p)
        write_parquet(users, out_dir / "archetypes" / "users.parquet")

        corr = acc.correlation()
        write_parquet(pl.DataFrame({f"d{i:02d}": corr[:, i].astype(np.float32) for i in range(N_DIMENSIONS)}),
                      out_dir / "correlation" / "matrix.parquet")
        heatmap(corr, out_dir / "correlation" / "heatmap.png")
        iu = np.triu_indices(N_DIMENSIONS, k=1)
        order = np.argsort(-np.abs(corr[iu]), kind="stable")[: p["top_correlations"]]
        pairs = [(int(iu[0][k]), int(iu[1][k]), float(corr[iu][k])) for k in order]
        (out_dir / "cluster_report.md").write_text(report(topic_table, users, pairs, n_texts, noise, p),
                                                   encoding="utf-8")

        stats = Stats(records_in=n_texts, records_out=n_texts)
        stats.counts.update({
            "topics": topic_table.height, "noise_texts": noise, "fit_sample_texts": sample.height,
            "topics_mapped": int(topic_table["interest_dimension"].is_not_null().sum()),
            "topics_uncovered": int(topic_table["interest_dimension"].is_null().sum()),
            "users": users.height, "archetypes": int(users["archetype"].max() + 1) if users.height else 0,
            "users_noise": int((users["archetype"] == -1).sum()), "embeddings_computed": embedder.computed,
        })
        return stats

    def summary(self, manifest: dict) -> str:
        c = manifest.get("counts", {})
        return (f"{c.get('topics', 0)} topics ({c.get('topics_mapped', 0)} mapped to interests, "
                f"{c.get('topics_uncovered', 0)} uncovered), {c.get('archetypes', 0)} archetypes")


def report(topics: pl.DataFrame, users: pl.DataFrame, pairs, n_texts: int, noise: int, p: dict) -> str:
    tax = load_taxonomy()
    lines = ["# Cluster report", "",
             f"{n_texts} texts, {topics.height} topics, {noise} texts in no topic (noise: "
             f"{100 * noise / n_texts if n_texts else 0:.1f}%).", "",
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
