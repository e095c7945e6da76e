"""Run every benchmark: python -m bench [NAME ...], or one with its options:
python -m bench scale --corpus ethereum (options follow the one name they belong to)."""

import sys

from bench import alignment, annotate, annotate_estimate, cluster, embeddings, ingest, language_id, privacy, scale, steer, validity

BENCHMARKS = {"ingest": ingest.main, "privacy": privacy.main, "annotate": annotate.main,
              "cluster": cluster.main, "embeddings": embeddings.main, "scale": scale.main, "steer": steer.main,
              "validity": validity.main, "language_id": language_id.main,
              "annotate_estimate": annotate_estimate.main, "alignment": alignment.main}
#: Benchmarks whose main takes command-line options.
WITH_OPTIONS = {"scale"}

if __name__ == "__main__":
    args = sys.argv[1:]
    if args and args[0] in WITH_OPTIONS and len(args) > 1:
        BENCHMARKS[args[0]](args[1:])
    else:
        for name in args or list(BENCHMARKS):
            BENCHMARKS[name]() if name not in WITH_OPTIONS else BENCHMARKS[name]([])
