"""Stage ``cluster``: what the corpus talks about, which kinds of users it holds, and how the
90 dimensions correlate.

Config section ``[cluster]``. Upstream: ``anonymize`` (texts: comments with or without their
post), ``annotate`` (ratings).

- Topics: sentence embeddings of every comment (cached by text hash) -> PCA -> HDBSCAN (the
  ``hdbscan`` package), fitted once on a hashed sample of at most ``fit_sample`` texts (in
  ``shards``, before any shard runs); then one shard per input file gives every other text,
  batch by batch, the label ``approximate_predict`` would give it (``topics.py``). Shards run
  in parallel (processes or Ray tasks); ``finish`` adds up their counts.
  Topic -1 is noise. Keywords by class-based TF-IDF over the sample's vocabulary.
- Interests: each topic maps onto the interest dimension the annotator found evidence of (a
  positive rating with evidence) in the largest share of the topic's rated texts, when that
  share is >= ``interest_min_share``; topics below it are reported as candidate new dimensions
  (size, keywords, examples). The annotator's interest instruments are validated against text
  people labelled (``alignx validate-annotator``); a topic centroid's similarity to a label's
  embedding is not: it mapped r/ethereum's main topic onto "Likes gourmet food".
- Archetypes: HDBSCAN over the 90-dimension profiles (docs/design.md's rule) of users with at least
  ``archetype_min_comments`` rated comments, fitted on at most ``archetype_fit_sample`` of them
  (a hashed sample, as for topics; the rest assigned by the same rule); -1 is noise. Assembly
  stratifies splits by it.
- Correlation: the 90x90 Pearson correlation of single-comment directions (from sums
  accumulated file by file, ``profiles.py``), a heatmap and the most correlated pairs (the AlignX authors argued from such a matrix that the dimensions are
  not redundant).

Outputs: ``topics/assignments.parquet`` (id, author, topic), ``topics/topics.parquet``,
``archetypes/users.parquet`` (author, archetype, n_comments, profile),
``correlation/matrix.parquet``, ``correlation/heatmap.png``, ``cluster_report.md``.
"""

from __future__ import annotations

import heapq
import json
import pickle
import shutil
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import polars as pl

from alignx.embeddings import EmbeddingCache
from alignx.taxonomy import N_DIMENSIONS, load_taxonomy
from pipeline.executors import in_own_process
from pipeline.io import atomic_path, parquet_writer, stable_hash, write_parquet
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
    if not files:
        return pl.DataFrame(schema={"id": pl.String, "body": pl.String})
    # a filtered scan: reading each file's bodies whole to keep a few of them left the process
    # holding about their size (576 MB at two million comments, against 150 MB this way)
    return pl.scan_parquet(files).filter(pl.col("id").is_in(chosen.implode())).select("id", "body").collect()


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


def archetypes(users: pl.DataFrame, p: dict, seed: int) -> pl.DataFrame:
    """``users`` (author, n_comments, profile) with archetype: HDBSCAN over the profiles of the
    users with at least ``archetype_min_comments`` rated comments (-1 = noise or too few).

    Above ``archetype_fit_sample`` such users, HDBSCAN is fitted on that many of them (those
    with the smallest ``topics.sample_key`` of seed and author) and every other one gets the
    archetype ``approximate_predict`` would give (``topics.assign``), as topics do: over every
    user, HDBSCAN's time and memory grew faster than the corpus (two million synthetic comments:
    54,000 profiles, most of the stage's time and its peak)."""
    eligible = np.flatnonzero((users["n_comments"] >= p["archetype_min_comments"]).to_numpy())
    labels = np.full(users.height, -1)
    if len(eligible) >= max(2 * p["archetype_min_size"], 3):
        X = np.array(users["profile"].gather(eligible).to_list(), dtype=np.float64)
        # a sample too small to hold two archetypes would make every user noise
        sample = max(p["archetype_fit_sample"], 2 * p["archetype_min_size"])
        keys = np.array([topics.sample_key(seed, a) for a in users["author"].gather(eligible).to_list()])
        fitted = np.zeros(len(eligible), dtype=bool)
        fitted[np.argsort(keys, kind="stable")[:sample]] = True  # every user, up to the sample's size
        model = topics.tree_model(X[fitted], p["archetype_min_size"], 0)
        found = np.empty(len(eligible), dtype=np.int64)
        found[fitted], found[~fitted] = model.labels, topics.assign(model, X[~fitted])
        labels[eligible] = found
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


@dataclass
class Fit:
    """What every shard assigns with: the topic model fitted on the sample (None when the sample
    holds too few texts), the sample's own labels by id, and the keyword vocabulary."""

    model: topics.TopicModel | None
    fitted: dict[str, int]
    keywords: topics.KeywordCounts
    sample_texts: int
    embedded: int = 0  # the sample's texts the fit embedded (not found in the cache)

    @property
    def n_topics(self) -> int:
        return self.model.n_topics if self.model else 0


def fit_topics(files: list[Path], p: dict, seed: int, embedder: EmbeddingCache) -> Fit:
    sample = sample_texts(files, seed, p["fit_sample"])
    model = topics.fit(embedder.encode(sample["body"].to_list()), p, seed) if sample.height else None
    fitted = dict(zip(sample["id"].to_list(), model.labels.tolist())) if model else {}
    return Fit(model, fitted, topics.KeywordCounts(sample["body"].to_list(), model.n_topics if model else 0),
               sample.height, embedder.computed)


def fit_and_save(ctx: StageContext, files: list[Path]) -> str:
    """Fit the topic model on ``files``' sample and save it (``fit_path``) under its key, which is
    returned: the sample's ids and labels, its vocabulary, the seed and the fit's settings."""
    p = ctx.params
    embedder = EmbeddingCache(ctx.data_dir / "cache" / "embeddings", p["embedding_model"])
    fit = fit_topics(files, p, ctx.seed, embedder)
    key = stable_hash({"seed": ctx.seed, "texts": fit.sample_texts, "fitted": sorted(fit.fitted.items()),
                       "words": fit.keywords.words.tolist(), **{k: p[k] for k in FIT_KEYS}})[:16]
    if not fit_path(ctx, key).exists():
        with atomic_path(fit_path(ctx, key)) as tmp:
            tmp.write_bytes(pickle.dumps(fit))
    return key


def assign_file(path: Path, fit: Fit, embedder: EmbeddingCache, write, show_progress: bool) -> dict:
    """Topics of every text of one file, batch by batch (``write``: each batch's (id, author,
    topic)); the file's topic sizes, keyword counts (in ``fit.keywords``), first examples per
    topic, texts and noise."""
    n = fit.n_topics
    sizes = np.zeros(n, dtype=np.int64)
    examples: dict[int, list[str]] = {t: [] for t in range(n)}
    n_texts = noise = 0
    for batch in progress(text_batches([path]), enabled=show_progress, desc=f"cluster: assign topics ({path.stem})",
                          unit="batch"):
        texts = batch["body"].to_list()
        labels = np.full(len(texts), -1, dtype=np.int64)
        if fit.model is not None:
            ids = batch["id"].to_list()
            known = np.array([i in fit.fitted for i in ids], dtype=bool)
            labels[known] = [fit.fitted[i] for i, k in zip(ids, known) if k]
            rest = np.flatnonzero(~known)
            if len(rest):
                vectors = embedder.encode([texts[i] for i in rest])
                labels[rest] = topics.assign(fit.model, fit.model.transform(vectors))
        write(batch.select("id", "author").with_columns(pl.Series("topic", labels, dtype=pl.Int32)))
        fit.keywords.add(texts, labels)
        sizes += np.bincount(labels[labels >= 0], minlength=n)[:n]
        for i in np.flatnonzero(labels >= 0):
            if len(examples[labels[i]]) < 3:
                examples[labels[i]].append(texts[i][:200])
        n_texts += len(texts)
        noise += int((labels == -1).sum())
    return {"sizes": sizes.tolist(), "examples": {str(t): e for t, e in examples.items()}, "texts": n_texts,
            "noise": noise, "embeddings_computed": embedder.computed}


ASSIGNMENT_SCHEMA = {"id": pl.String, "author": pl.String, "topic": pl.Int32}


class Cluster(Stage):
    name = "cluster"
    #: 3: topics fitted on a hashed sample, every text assigned batch by batch; sums, not tables
    #: 4: one shard per input file, assigned in parallel (Ray too) with the model fitted once
    #: 5: archetypes fitted on at most archetype_fit_sample users, the others assigned
    version = "5"
    upstream = ("anonymize", "annotate")
    uses = ("run.seed", *keys("cluster", "embedding_model", "pca_components", "fit_sample", "min_topic_size",
                              "min_samples", "keywords", "interest_min_share", "archetype_min_comments",
                              "archetype_min_size", "archetype_fit_sample", "top_correlations"))
    unit = "comments"
    description = "topics, interest mapping, user archetypes, dimension correlation"

    @staticmethod
    def _files(ctx: StageContext) -> list[Path]:
        # topics over every kept comment, with or without its post in the inputs
        return ctx.upstream_files("anonymize", "threads") + ctx.upstream_files("anonymize", "orphans")

    def shards(self, ctx: StageContext) -> list[Shard]:
        """One shard per input file. The topic model is fitted here, once, before any shard runs
        (the sample is drawn from every file), and saved where every worker reads it: its key (the
        sample's ids and texts, the fit's settings) is each shard's parameter, so a shard
        assigned with another fit is never reused.

        The fit runs in a process of its own: what it takes (HDBSCAN, the sample's vectors,
        the embedding model) is given back when that process ends, instead of staying in this
        one while the shard workers run beside it (about 200 MB at two million comments, which
        the stage's whole process tree would hold beside its workers)."""
        files = self._files(ctx)
        key = in_own_process("cluster: the topic fit", fit_and_save, ctx, files)
        return [Shard(f"{f.parent.name}-{f.stem}", (str(f),), params=(("fit", key),), weight=f.stat().st_size)
                for f in files]

    def run_shard(self, ctx: StageContext, shard: Shard, out_dir: Path) -> Stats:
        fit = pickle.loads(fit_path(ctx, shard.param("fit")).read_bytes())
        embedder = EmbeddingCache(ctx.data_dir / "cache" / "embeddings", ctx.params["embedding_model"])
        with parquet_writer(out_dir / "assignments.parquet", ASSIGNMENT_SCHEMA) as write:
            found = assign_file(Path(shard.inputs[0]), fit, embedder, write, ctx.progress)
        np.save(out_dir / "keyword_counts.npy", fit.keywords.counts)
        (out_dir / "found.json").write_text(json.dumps({**found, "fit": shard.param("fit")}))
        return Stats(records_in=found["texts"], records_out=found["texts"])

    def finish(self, ctx: StageContext, parts: list[Path], stats: Stats, out_dir: Path) -> Stats:
        p = ctx.params
        rating_files = ctx.upstream_files("annotate", "ratings")
        key = json.loads((parts[0] / "found.json").read_text())["fit"] if parts else None
        fit = pickle.loads(fit_path(ctx, key).read_bytes()) if key else Fit(None, {}, topics.KeywordCounts([], 0), 0)
        n_topics = fit.n_topics
        sizes = np.zeros(n_topics, dtype=np.int64)
        examples: dict[int, list[str]] = {t: [] for t in range(n_topics)}
        n_texts, noise, computed = 0, 0, fit.embedded
        assignments = out_dir / "topics" / "assignments.parquet"
        # the parts in key order: the assignments, sizes, keyword counts and examples of every file
        with parquet_writer(assignments, ASSIGNMENT_SCHEMA) as write:
            for part in parts:
                write(pl.read_parquet(part / "assignments.parquet"))
                found = json.loads((part / "found.json").read_text())
                sizes += np.asarray(found["sizes"], dtype=np.int64)
                for t in range(n_topics):
                    examples[t] += found["examples"][str(t)][: 3 - len(examples[t])]
                fit.keywords.counts += np.load(part / "keyword_counts.npy")
                n_texts, noise = n_texts + found["texts"], noise + found["noise"]
                computed += found["embeddings_computed"]

        ratings = (pl.scan_parquet(rating_files) if rating_files else pl.LazyFrame(schema={
            "id": pl.String, "author": pl.String, "ratings": pl.List(pl.Int8), "status": pl.String}))
        mapping = interest_mapping(pl.scan_parquet(assignments).select("id", "topic"), ratings,
                                   list(range(n_topics)), p["interest_min_share"])
        words = fit.keywords.keywords(p["keywords"])
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
        users = archetypes(acc.profiles(), p, ctx.seed)
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
        stats.counts.update({
            "topics": topic_table.height, "noise_texts": noise, "fit_sample_texts": fit.sample_texts,
            "topics_mapped": int(topic_table["interest_dimension"].is_not_null().sum()),
            "topics_uncovered": int(topic_table["interest_dimension"].is_null().sum()),
            "users": users.height, "archetypes": int(users["archetype"].max() + 1) if users.height else 0,
            "users_noise": int((users["archetype"] == -1).sum()), "embeddings_computed": computed,
        })
        shutil.rmtree(ctx.work_dir / "fit", ignore_errors=True)  # the fit served its shards
        return stats

    def summary(self, manifest: dict) -> str:
        c = manifest.get("counts", {})
        return (f"{c.get('topics', 0)} topics ({c.get('topics_mapped', 0)} mapped to interests, "
                f"{c.get('topics_uncovered', 0)} uncovered), {c.get('archetypes', 0)} archetypes")


#: The settings the topic model's fit depends on (with the seed and the sample itself).
FIT_KEYS = ("embedding_model", "pca_components", "fit_sample", "min_topic_size", "min_samples")


def fit_path(ctx: StageContext, key: str) -> Path:
    """Where the fitted model waits for the shards: the stage's own state, on the data dir every
    worker (or Ray node) shares."""
    return ctx.work_dir / "fit" / f"{key}.pkl"


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
