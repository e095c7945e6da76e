"""The bias report of a release: who the personas say the users are, and where the data comes from.

Figures (``SplitBias.report``): for the 7 demographic and Big Five dimensions, the share of
users (their profile over their own comments) and of examples (the profile of the example's
history) leaning to each pole; the concentration of the Reddit part by subreddit (top-10
share, Gini) and by user (examples per user: mean, max, Gini); the share of each source; for
train and test separately. ``flags`` turns figures past the thresholds into plain sentences
for the dataset card's limitations.
"""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import numpy as np
import polars as pl

from alignx.taxonomy import N_DIMENSIONS, load_taxonomy, profile
from pipeline.io import parquet_batches
from stages.emit.summary import DIRECTION_VALUES

DEMOGRAPHIC_GROUP = "Demographics & Dispositional Traits"


def gini(counts) -> float:
    """Gini coefficient of non-negative counts (0 = equal, towards 1 = concentrated)."""
    x = np.sort(np.asarray(counts, dtype=float))
    if len(x) == 0 or x.sum() == 0:
        return 0.0
    n = len(x)
    return float((2 * np.arange(1, n + 1) - n - 1) @ x / (n * x.sum()))


#: The profile values counted per demographic dimension: label_1 pole, label_0 pole, neutral (a
#: profile takes a direction's values).
POLES = DIRECTION_VALUES


def demographic_dimensions() -> list[int]:
    return [d.index for d in load_taxonomy().group(DEMOGRAPHIC_GROUP)]


def pole_counts(profiles: np.ndarray) -> np.ndarray:
    """``profiles`` (rows x demographic dimensions) -> counts (``POLES`` x dimensions)."""
    return np.stack([(profiles == v).sum(axis=0) for v in POLES]).reshape(len(POLES), -1)


def pole_shares(counts: np.ndarray, rows: int) -> dict[str, dict[str, float]]:
    """Per demographic dimension: share of ``rows`` at label_1, label_0 and neutral, from
    ``pole_counts``."""
    out = {}
    n = max(rows, 1)
    for i, d in enumerate(load_taxonomy().group(DEMOGRAPHIC_GROUP)):
        out[d.description] = {"label_1": d.label_1, "label_0": d.label_0,
                              "share_1": round(float(counts[0, i] / n), 4),
                              "share_0": round(float(counts[1, i] / n), 4),
                              "share_neutral": round(float(counts[2, i] / n), 4)}
    return out


def history_profile(row: dict) -> np.ndarray:
    dirs = [x["Preference Direction"] for x in (row["ugc"] or []) + (row["pair"] or [])]
    return profile(np.array(dirs)) if dirs else np.full(90, 0.5)


class SplitBias:
    """The bias report of one split, gathered batch by batch from assemble's examples (``add``):
    examples per source, per Reddit user and per subreddit, and the poles of each example's
    history profile on the demographic dimensions (counted, never kept per example). The users'
    own profiles are read afterwards, from cluster's archetypes (``user_poles``), for the users
    counted here."""

    def __init__(self):
        self.examples = 0
        self.sources: Counter = Counter()
        self.per_user: Counter = Counter()
        self.per_subreddit: Counter = Counter()
        self.dimensions = demographic_dimensions()
        self.example_poles = np.zeros((len(POLES), len(self.dimensions)), dtype=np.int64)

    def add(self, examples: pl.DataFrame) -> None:
        """``examples``: assemble's rows (with user, subreddit, ugc, pair, user_type); targets only
        (persona_type "all") count, so a test target is counted once, not once per persona type."""
        targets = examples.filter(pl.col("persona_type") == "all")
        self.examples += targets.height
        self.sources.update(targets["user_type"].to_list())
        reddit = targets.filter(pl.col("source") == "reddit")
        self.per_user.update(reddit["user"].to_list())
        self.per_subreddit.update(reddit["subreddit"].to_list())
        if reddit.height:
            histories = np.array([history_profile(r) for r in reddit.select("ugc", "pair").iter_rows(named=True)])
            self.example_poles += pole_counts(histories[:, self.dimensions])

    def report(self, users_poles: np.ndarray, profiled_users: int) -> dict:
        """``users_poles``: ``pole_counts`` of the profiles of the ``profiled_users`` of ``per_user``
        that cluster profiled (``user_poles``)."""
        reddit = sum(self.per_user.values())
        # largest first, ties by name: the order of the card's table and plot
        subs = pl.DataFrame({"subreddit": list(self.per_subreddit), "len": list(self.per_subreddit.values())},
                            schema={"subreddit": pl.String, "len": pl.Int64}
                            ).sort(["len", "subreddit"], descending=[True, False])
        per_user = np.array(list(self.per_user.values()), dtype=np.int64)
        return {
            "examples": self.examples,
            "sources": {k: round(v / max(self.examples, 1), 4) for k, v in sorted(self.sources.items())},
            "users": len(self.per_user),
            "demographics_over_users": pole_shares(users_poles, profiled_users),
            "demographics_over_examples": pole_shares(self.example_poles, reddit),
            "subreddits": subs.height,
            "top10_subreddit_share": round(float(subs["len"][:10].sum() / max(reddit, 1)), 4),
            "subreddit_gini": round(gini(subs["len"].to_numpy()), 4),
            "top_subreddits": [[s, int(n)] for s, n in subs.head(10).iter_rows()],
            "examples_per_user_mean": round(float(per_user.mean()), 3) if len(per_user) else 0.0,
            "examples_per_user_max": int(per_user.max()) if len(per_user) else 0,
            "user_gini": round(gini(per_user), 4),
        }


def user_poles(archetypes: Path, users, batch_rows: int) -> tuple[np.ndarray, int]:
    """``pole_counts`` of the profiles (cluster's ``archetypes/users.parquet``, one row per author)
    of ``users`` (a container of authors) on the demographic dimensions, and how many of them have
    a profile; the table is read ``batch_rows`` users at a time, and only 7 of each profile's 90
    values are kept."""
    dimensions = demographic_dimensions()
    counts = np.zeros((len(POLES), len(dimensions)), dtype=np.int64)
    profiled = 0
    for batch in parquet_batches(archetypes, batch_rows, columns=["author", "profile"]):
        mine = batch.filter(pl.Series([a in users for a in batch["author"].to_list()], dtype=pl.Boolean))
        if mine.height:
            profiles = np.array(mine["profile"].to_list(), dtype=float).reshape(-1, N_DIMENSIONS)
            counts += pole_counts(profiles[:, dimensions])
            profiled += mine.height
    return counts, profiled


def flags(report: dict, max_pole: float, max_top10: float, max_gini: float) -> list[str]:
    out = []
    for split, r in report.items():
        for scope in ("users", "examples"):
            for dim, s in r[f"demographics_over_{scope}"].items():
                for pole in ("1", "0"):
                    if s[f"share_{pole}"] >= max_pole:
                        out.append(f"{100 * s[f'share_{pole}']:.0f}% of {split} {scope} read as "
                                   f"\"{s[f'label_{pole}']}\" on the dimension \"{dim}\".")
        if r["top10_subreddit_share"] >= max_top10 and r["subreddits"] > 10:
            out.append(f"The ten largest subreddits hold {100 * r['top10_subreddit_share']:.0f}% of the {split} "
                       f"Reddit examples (Gini {r['subreddit_gini']:.2f}).")
        if r["user_gini"] >= max_gini:
            out.append(f"Examples per user in {split} are unequal (Gini {r['user_gini']:.2f}; the busiest user has "
                       f"{r['examples_per_user_max']}).")
    return out


def plots(report: dict, out_dir: Path) -> list[str]:
    """Direction distributions (train users) and subreddit concentration (train), as PNG."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    names = []
    train = report["train"]
    dims = list(train["demographics_over_users"].items())
    fig, ax = plt.subplots(figsize=(8, 3.5), dpi=100)
    ys = np.arange(len(dims))
    left = np.zeros(len(dims))
    for key, label, color in (("share_1", "label_1 pole", "#d95f02"), ("share_neutral", "neutral", "#bbbbbb"),
                              ("share_0", "label_0 pole", "#1b9e77")):
        vals = np.array([s[key] for _, s in dims])
        ax.barh(ys, vals, left=left, color=color, label=label)
        left += vals
    ax.set_yticks(ys, [f"{s['label_1']} / {s['label_0']}" for _, s in dims], fontsize=7)
    ax.set_xlabel("share of train users")
    ax.set_title("Persona directions on demographic and Big Five dimensions")
    ax.legend(fontsize=7, loc="upper left", bbox_to_anchor=(1.01, 1.0))
    fig.tight_layout()
    for name, figure in (("bias_directions.png", fig),):
        figure.savefig(out_dir / name, format="png", metadata={"Software": None})
        plt.close(figure)
        names.append(name)
    fig, ax = plt.subplots(figsize=(8, 3.5), dpi=100)
    top = train["top_subreddits"]
    ax.bar([s for s, _ in top], [n for _, n in top], color="#7570b3")
    ax.set_ylabel("train examples")
    ax.set_title(f"Subreddit concentration (top-10 share {100 * train['top10_subreddit_share']:.0f}%, "
                 f"Gini {train['subreddit_gini']:.2f})")
    ax.tick_params(axis="x", labelrotation=45, labelsize=7)
    fig.tight_layout()
    fig.savefig(out_dir / "bias_subreddits.png", format="png", metadata={"Software": None})
    plt.close(fig)
    names.append("bias_subreddits.png")
    return names
