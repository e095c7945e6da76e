"""Alignment examples' histories at AlignX's size: ``alignment_histories`` (each user type ranked
once, a pair's history the pairs after it) against the rule it replaced, the plain code (for each
pair, rank its type's whole pool again by a seeded hash and take the first ``pair_items``), in
the same run on the same pairs.

The pairs are ids spread over the ten user types of the alignment inputs (PKU-SafeRLHF,
UltraFeedback, HelpSteer2 attributes); the rule reads nothing else. The old rule is quadratic,
so it runs on the smaller sizes only. Writes bench/results/alignment.json. Target: the time a pair
stays flat as the pairs grow (at most 1.5x from the smallest size to the largest).
"""

from __future__ import annotations

import json
import time
from pathlib import Path

import polars as pl

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "bench" / "results"
USER_TYPES = ("PKU-SafeRLHF/harmlessness", "UltraFeedback/helpfulness", "UltraFeedback/honesty",
              "UltraFeedback/instruction_following", "UltraFeedback/truthfulness", "HelpSteer2/helpfulness",
              "HelpSteer2/correctness", "HelpSteer2/coherence", "HelpSteer2/complexity", "HelpSteer2/verbosity")
SIZES = (2_000, 8_000, 32_000, 128_000)
BASELINE_SIZES = (2_000, 8_000)
PAIR_ITEMS, SEED = 4, 0


def pairs(n: int) -> pl.DataFrame:
    return pl.DataFrame({"id": [f"pair-{i:07d}" for i in range(n)],
                         "user_type": [USER_TYPES[i % len(USER_TYPES)] for i in range(n)]})


def plain_histories(df: pl.DataFrame) -> list[list[str]]:
    """The rule assemble v12 used: per pair, its type's pool without it, ranked whole."""
    from stages.assemble.stage import ranked

    by_type = {k: g for (k,), g in df.group_by(["user_type"])}
    out = []
    for r in df.iter_rows(named=True):
        pool = by_type[r["user_type"]].filter(pl.col("id") != r["id"]).to_dicts()
        out.append(sorted(h["id"] for h in ranked(pool, lambda h: h["id"], SEED, "history", r["id"])[:PAIR_ITEMS]))
    return out


def stage_histories(df: pl.DataFrame) -> list[list[str]]:
    from stages.assemble.stage import alignment_histories

    history = alignment_histories(df, SEED, PAIR_ITEMS)
    return [[h["id"] for h in history(r)] for r in df.iter_rows(named=True)]


def timed(fn, df) -> float:
    t0 = time.perf_counter()
    fn(df)
    return time.perf_counter() - t0


def main() -> None:
    runs = []
    for n in SIZES:
        df = pairs(n)
        row = {"pairs": n, "stage_s": round(timed(stage_histories, df), 3)}
        row["stage_us_per_pair"] = round(1e6 * row["stage_s"] / n, 1)
        if n in BASELINE_SIZES:
            row["plain_s"] = round(timed(plain_histories, df), 3)
            row["speedup"] = round(row["plain_s"] / row["stage_s"], 1)
        runs.append(row)
        print(json.dumps(row))
    flat = runs[-1]["stage_us_per_pair"] / runs[0]["stage_us_per_pair"]
    out = {"runs": runs, "pair_items": PAIR_ITEMS, "user_types": len(USER_TYPES),
           "per_pair_ratio_largest_to_smallest": round(flat, 2),
           "targets": {"per_pair_ratio_max": 1.5}, "met": flat <= 1.5}
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / "alignment.json").write_text(json.dumps(out, indent=1) + "\n")
    print(f"time a pair, {SIZES[-1]:,} vs {SIZES[0]:,} pairs: {flat:.2f}x; written to {RESULTS / 'alignment.json'}")


if __name__ == "__main__":
    main()
