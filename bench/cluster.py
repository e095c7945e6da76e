"""Clustering at scale: 100k and 1M points of 384-dimensional embeddings.

The points are the demo corpus's real comment embeddings (all-MiniLM-L6-v2), replicated
with Gaussian noise (sigma 0.02 per coordinate) and re-normalized. Each size runs in a fresh
subprocess so its peak memory is its own. Steps timed: PCA (fit on the sample, transform all),
HDBSCAN fit on the seeded sample (``cluster.fit_sample``), ``approximate_predict`` for the
rest. Writes bench/results/cluster.json. Target: 1M points in under 10 minutes and 8 GB.
"""

from __future__ import annotations

import json
import resource
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "bench" / "results"
SIZES = (100_000, 1_000_000)


def points(n: int, seed: int = 0) -> np.ndarray:
    from alignx.dumps import iter_records
    from alignx.embeddings import EmbeddingCache

    texts = [r["body"] for _, r in iter_records(ROOT / "data/sample/reddit/RC_2024-03.zst")
             if r["body"] not in ("[deleted]", "[removed]")]
    base = EmbeddingCache(ROOT / "bench" / ".work" / "embeddings").encode(texts)
    rng = np.random.default_rng(seed)
    out = np.empty((n, base.shape[1]), dtype=np.float32)
    for start in range(0, n, 100_000):
        k = min(100_000, n - start)
        block = base[rng.integers(0, len(base), k)] + rng.normal(0, 0.02, (k, base.shape[1])).astype(np.float32)
        out[start:start + k] = block / np.linalg.norm(block, axis=1, keepdims=True)
    return out


def run(n: int) -> dict:
    import hdbscan
    from sklearn.decomposition import PCA

    from pipeline.config import load_config

    p = load_config().section("cluster")
    X = points(n)
    timings = {}
    t = time.perf_counter()
    rng = np.random.default_rng(0)
    sample = np.sort(rng.choice(n, size=min(n, p["fit_sample"]), replace=False))
    pca = PCA(n_components=p["pca_components"], random_state=0, svd_solver="randomized").fit(X[sample])
    reduced = np.empty((n, p["pca_components"]), dtype=np.float64)
    for s in range(0, n, 200_000):
        reduced[s:s + 200_000] = pca.transform(X[s:s + 200_000])
    del X
    timings["pca_s"] = time.perf_counter() - t
    t = time.perf_counter()
    model = hdbscan.HDBSCAN(min_cluster_size=max(p["min_topic_size"], 50), prediction_data=True,
                            core_dist_n_jobs=1).fit(reduced[sample])
    timings["hdbscan_fit_s"] = time.perf_counter() - t
    t = time.perf_counter()
    rest = np.setdiff1d(np.arange(n), sample)
    labels = np.empty(len(rest), dtype=np.int64)
    for s in range(0, len(rest), 100_000):
        labels[s:s + 100_000], _ = hdbscan.approximate_predict(model, reduced[rest[s:s + 100_000]])
    timings["approximate_predict_s"] = time.perf_counter() - t
    return {
        "points": n, "fit_sample": len(sample), **{k: round(v, 2) for k, v in timings.items()},
        "total_s": round(sum(timings.values()), 2),
        "topics": int(model.labels_.max() + 1),
        "noise_share": round(float((np.concatenate([model.labels_, labels]) == -1).mean()), 3),
        "peak_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1),
    }


def main() -> None:
    results = []
    for n in SIZES:
        proc = subprocess.run([sys.executable, "-m", "bench.cluster", "--child", str(n)], cwd=ROOT,
                              capture_output=True, text=True)
        if proc.returncode:
            raise SystemExit(proc.stderr)
        results.append(json.loads(proc.stdout.strip().splitlines()[-1]))
        print(results[-1], file=sys.stderr)
    report = {"runs": results, "targets": {"points": 1_000_000, "total_s_max": 600, "peak_rss_mb_max": 8192}}
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / "cluster.json").write_text(json.dumps(report, indent=2) + "\n")
    print(json.dumps(report, indent=2))


if __name__ == "__main__":
    if len(sys.argv) == 3 and sys.argv[1] == "--child":
        print(json.dumps(run(int(sys.argv[2]))))
    else:
        main()
