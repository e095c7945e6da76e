"""Annotator validity on real text: the reference set, P-SOUPS, and two real builds.

1. ``alignx validate-annotator``'s report for the configured (offline) annotator: the reference
   set's test split, the labellers' agreement and P-SOUPS (annotators/validity.py).
2. Sparsity and coherence on two builds made with the same code, each read from its data dir:
   the demo corpus (data/sample) and a month of r/ethereum daily threads (2025-03, real Reddit).
   Per build: non-neutral (evidence-gated) dimensions per comment, per target pair direction and
   per PAIR history item; mean pairwise correlation of the 43 interest dimensions across comments;
   traits per Demographic Information.
3. Throughput of the offline annotator on real comments (ethereum_daily), uncached, one process:
   end to end (model load, rating, rating cache) and rating alone, next to plain baselines in
   the same run (VADER alone; the per-text textstat grade), with the machine's load average.

The builds are made beforehand (they take minutes), e.g.

    ALIGNX_PSEUDONYM_KEY=... python -m cli run --data-dir /tmp/demo   # after copying data/sample there
    ALIGNX_PSEUDONYM_KEY=... python -m cli run --data-dir /tmp/eth \\
        --set 'ingest_reddit.inputs=["../shared/data/reddit/ethereum_daily"]' \\
        --set ingest_reddit.date_from=2025-03-01 --set ingest_reddit.date_to=2025-04-01

and named by ALIGNX_BENCH_DEMO_DIR / ALIGNX_BENCH_ETH_DIR; a build that is absent is reported as
such. Writes bench/results/annotator_validity.json.
"""

from __future__ import annotations

import json
import os
import time
from pathlib import Path

import numpy as np
import polars as pl

from alignx.directions import gate
from alignx.taxonomy import load_taxonomy
from pipeline.config import load_config
from stages.assemble.demographic import NO_SIGNAL, TEMPLATE
from annotators.validity import SHARED_DATA, validate

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "bench" / "results"


def pct(x) -> dict:
    x = np.asarray(x)
    if not len(x):
        return {"n": 0}
    return {"n": int(len(x)), "min": int(x.min()), "median": float(np.median(x)), "p90": float(np.percentile(x, 90)),
            "max": int(x.max())}


def interest_correlation(g: np.ndarray) -> dict:
    """Mean pairwise Pearson correlation of the interest columns of ``g`` (gated intensities,
    shape (n, 90)) over the columns that vary; the columns that never vary are counted."""
    interests = [d.index for d in load_taxonomy().group("Interests")]
    x = g[:, interests].astype(float)
    varying = x.std(axis=0) > 0
    if varying.sum() < 2:
        return {"mean_pairwise": None, "varying_dimensions": int(varying.sum())}
    c = np.corrcoef(x[:, varying], rowvar=False)
    off = c[~np.eye(len(c), dtype=bool)]
    return {"mean_pairwise": round(float(off.mean()), 4), "max_pairwise": round(float(off.max()), 4),
            "varying_dimensions": int(varying.sum())}


def traits_in(text: str) -> int:
    """Traits named by a template Demographic Information (0 for "no clear preference signal")."""
    if not text or text == NO_SIGNAL:
        return 0
    head = TEMPLATE.split("{labels}")[0]
    return len(text[len(head):].rstrip(".").split(", ")) if text.startswith(head) else -1


def relative_shares(target: np.ndarray) -> dict:
    """On the target pair directions (n, 90): per relative dimension the share with a direction
    and, of those, the share towards label_0; and how often complexity (46) and concise /
    detailed (16) both have one and point the same way (simpler with more concise)."""
    out = {}
    for d in (14, 16, 46):
        directed = target[:, d] != 0.5
        out[str(d)] = {"directed": round(float(directed.mean()), 3) if len(target) else None,
                       "towards_label_0": round(float((target[directed, d] == 0).mean()), 3) if directed.any() else None}
    both = (target[:, 46] != 0.5) & (target[:, 16] != 0.5)
    out["46_and_16_both_directed"] = round(float(both.mean()), 3) if len(target) else None
    # 46 label_1 = complex, 16 label_1 = concise: "simpler and more concise" is 46 = 0 with 16 = 1
    out["46_follows_16_given_both"] = round(float((target[both, 46] != target[both, 16]).mean()), 3) if both.any() else None
    return out


def build_stats(data_dir: Path) -> dict:
    ratings = pl.concat([pl.read_parquet(f, columns=["ratings", "evidence", "status"])
                         for f in sorted((data_dir / "work" / "annotate").glob("out-*/ratings/*.parquet"))])
    ok = ratings.filter(pl.col("status") == "ok")
    g = gate(np.array(ok["ratings"].to_list()), np.array(ok["evidence"].to_list()))
    from stages.emit.stage import release_dir

    release = release_dir(load_config(), data_dir)
    reddit = pl.concat([pl.read_parquet(f) for f in sorted(release.glob("*.parquet"))]).filter(
        pl.col("source") == "reddit")
    train_all = reddit.filter(pl.col("persona_type") == "all")
    target = np.array(train_all["Preference Direction"].to_list()) if train_all.height else np.zeros((0, 90))
    pair_dirs = [np.array(x["Preference Direction"]) for items in train_all["Pair-wise Comparative Feedback"].to_list()
                 for x in (items or [])]
    return {
        "comments": ok.height,
        "non_neutral_per_comment": pct((g != 0).sum(axis=1)),
        "share_of_comments_with_no_evidence": round(float(((g != 0).sum(axis=1) == 0).mean()), 3),
        "interest_correlation_across_comments": interest_correlation(g),
        "reddit_examples": train_all.height,
        "non_neutral_per_target_pair_direction": pct((target != 0.5).sum(axis=1)),
        "non_neutral_per_pair_history_item": pct([(d != 0.5).sum() for d in pair_dirs]),
        "traits_per_demographic_information": pct([traits_in(t) for t in train_all["Demographic Information"]]),
        "share_no_clear_signal": round(float((train_all["Demographic Information"] == NO_SIGNAL).mean()), 3)
        if train_all.height else None,
        "relative_dimensions_on_target_pairs": relative_shares(target),
        "release": release.name,
    }


def throughput(n: int = 5000) -> dict:
    """Offline annotator comments/s on real comments (ethereum_daily), one process, in the same run:

    - ``end_to_end``: what the annotate stage does for ``n`` uncached comments: load the
      instruments and the model, rate, and write the rating cache (a fresh temp data dir);
    - ``annotator``: rating alone, everything loaded;
    - baselines over the same texts: VADER alone, and the per-text textstat grade the annotator
      used before; and where the time goes (each instrument alone)."""
    import tempfile

    from vaderSentiment.vaderSentiment import SentimentIntensityAnalyzer

    from alignx.dumps import iter_records
    from annotators.ratings import Item, RatingCache, cache_key
    from annotators import cache_path, make, make_spend

    texts = []
    for _, r in iter_records(SHARED_DATA / "reddit" / "ethereum_daily" / "ethereum_comments.zst"):
        if r.get("body") not in (None, "", "[deleted]", "[removed]"):
            texts.append(r["body"])
        if len(texts) == n:
            break
    p = load_config().section("annotate")
    with tempfile.TemporaryDirectory() as tmp:
        t0 = time.perf_counter()
        ann = make(p, Path(tmp))
        cache = RatingCache(cache_path(Path(tmp)))
        items = [Item(str(i), "", t) for i, t in enumerate(texts)]
        keys = [cache_key(ann.backend, ann.model, ann.version, "", t) for t in texts]
        ann.annotate(items, keys, cache.put, make_spend(p), show_progress=False)
        end_to_end = time.perf_counter() - t0
    from annotators.embedding import EmbeddingAnnotator

    ann = EmbeddingAnnotator(ann.model, None, p["offline_max_interests"])  # no embedding cache
    ann.rate(texts[:10])
    t0 = time.perf_counter()
    ann.rate(texts)
    ours = time.perf_counter() - t0
    vader = SentimentIntensityAnalyzer()
    t0 = time.perf_counter()
    for t in texts:
        vader.polarity_scores(t)
    base = time.perf_counter() - t0
    import textstat

    t0 = time.perf_counter()
    for t in texts:
        textstat.flesch_kincaid_grade(t)
    grade = time.perf_counter() - t0
    from alignx.embeddings import EmbeddingCache

    t0 = time.perf_counter()
    EmbeddingCache(None, ann.model).encode(texts)
    embed = time.perf_counter() - t0
    from annotators.embedding import surface_features

    t0 = time.perf_counter()
    surface_features(texts)
    surface = time.perf_counter() - t0
    return {"texts": len(texts), "annotator": f"embedding:{ann.model}",
            "end_to_end_texts_per_second": round(len(texts) / end_to_end, 1),
            "offline_annotator_texts_per_second": round(len(texts) / ours, 1),
            "baseline_vader_only_texts_per_second": round(len(texts) / base, 1),
            "baseline_textstat_grade_texts_per_second": round(len(texts) / grade, 1),
            "ratio_to_vader_baseline": round(base / ours, 4), "torch_threads": _threads(),
            "seconds": {"end_to_end": round(end_to_end, 2), "annotator": round(ours, 2), "vader": round(base, 2),
                        "textstat_grade": round(grade, 2), "surface_features": round(surface, 2),
                        f"embeddings_{ann.model}": round(embed, 2)},
            # the machine is shared: its load while measuring (1, 5, 15 minutes) says how far to trust
            # the seconds
            "load_average": [round(x, 2) for x in os.getloadavg()], "cpus": os.cpu_count()}


def _threads() -> int:
    import torch

    return torch.get_num_threads()


def main() -> None:
    p = load_config().section("annotate")
    report = validate(p, ROOT / "data")
    builds = {}
    for name, env in (("demo", "ALIGNX_BENCH_DEMO_DIR"), ("ethereum_daily_2025_03", "ALIGNX_BENCH_ETH_DIR")):
        d = os.environ.get(env)
        builds[name] = build_stats(Path(d)) if d and Path(d).is_dir() else f"not measured: set {env} to a build"
    report["builds"] = builds
    report["throughput"] = throughput()
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / "annotator_validity.json").write_text(json.dumps(report, indent=1) + "\n")
    print(json.dumps({k: report[k] for k in ("builds", "throughput", "p_soups")}, indent=1))


if __name__ == "__main__":
    main()
