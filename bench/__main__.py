"""Run every benchmark: python -m bench [NAME ...]"""

import sys

from bench import annotate, cluster, embeddings, ingest, privacy, scale, validity

BENCHMARKS = {"ingest": ingest.main, "privacy": privacy.main, "annotate": annotate.main,
              "cluster": cluster.main, "embeddings": embeddings.main, "scale": scale.main,
              "validity": validity.main}

if __name__ == "__main__":
    names = sys.argv[1:] or list(BENCHMARKS)
    for name in names:
        BENCHMARKS[name]()
