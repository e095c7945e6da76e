"""The bias report of a release: who the personas say the users are, and where the data comes from.

Figures (all in ``bias_report``): for the 7 demographic and Big Five dimensions, the share of
users (their profile over their own comments) and of examples (the profile of the example's
history) leaning to each pole; the concentration of the Reddit part by subreddit (top-10
share, Gini) and by user (examples per user: mean, max, Gini); the share of each source; for
train and test separately. ``flags`` turns figures past the thresholds into plain sentences
for the dataset card's limitations.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import polars as pl

from alignx.taxonomy import load_taxonomy, profile

DEMOGRAPHIC_GROUP = "Demographics & Dispositional Traits"


def gini(counts) -> float:
    """Gini coefficient of non-negative counts (0 = equal, towards 1 = concentrated)."""
    x = np.sort(np.asarray(counts, dtype=float))
    if len(x) == 0 or x.sum() == 0:
        return 0.0
    n = len(x)
    return float((2 * np.arange(1, n + 1) - n - 1) @ x / (n * x.sum()))


def pole_shares(profiles: np.ndarray) -> dict[str, dict[str, float]]:
    """Per demographic dimension: share of rows at label_1, label_0 and neutral."""
    out = {}
    for d in load_taxonomy().group(DEMOGRAPHIC_GROUP):
        col = profiles[:, d.index] if len(profiles) else np.array([])
        n = max(len(col), 1)
        out[d.description] = {"label_1": d.label_1, "label_0": d.label_0,
                              "share_1": round(float((col == 1.0).sum() / n), 4),
                              "share_0": round(float((col == 0.0).sum() / n), 4),
                              "share_neutral": round(float((col == 0.5).sum() / n), 4)}
    return out


def history_profile(row: dict) -> np.ndarray:
    dirs = [x["Preference Direction"] for x in (row["ugc"] or []) + (row["pair"] or [])]
    return profile(np.array(dirs)) if dirs else np.full(90, 0.5)


def split_report(examples: pl.DataFrame, user_profiles: dict[str, list[float]]) -> dict:
    reddit = examples.filter(pl.col("source") == "reddit")
    users = sorted(set(reddit["user"].to_list()))
    by_user = np.array([user_profiles[u] for u in users if u in user_profiles]).reshape(-1, 90)
    by_example = np.array([history_profile(r) for r in reddit.iter_rows(named=True)]).reshape(-1, 90)
    subs = reddit.group_by("subreddit").len().sort(["len", "subreddit"], descending=[True, False])
    per_user = reddit.group_by("user").len()["len"].to_numpy() if reddit.height else np.array([])
    return {
        "examples": examples.height,
        "sources": {k: round(v / max(examples.height, 1), 4)
                    for k, v in sorted(examples.group_by("user_type").len().iter_rows())},
        "users": len(users),
        "demographics_over_users": pole_shares(by_user),
        "demographics_over_examples": pole_shares(by_example),
        "subreddits": subs.height,
        "top10_subreddit_share": round(float(subs["len"][:10].sum() / max(reddit.height, 1)), 4),
        "subreddit_gini": round(gini(subs["len"].to_numpy()), 4),
        "top_subreddits": [[s, int(n)] for s, n in subs.head(10).iter_rows()],
        "examples_per_user_mean": round(float(per_user.mean()), 3) if len(per_user) else 0.0,
        "examples_per_user_max": int(per_user.max()) if len(per_user) else 0,
        "user_gini": round(gini(per_user), 4),
    }


def bias_report(splits: dict[str, pl.DataFrame], user_profiles: dict[str, list[float]]) -> dict:
    """``splits``: assemble's examples per split (with user, subreddit, ugc, pair, user_type)."""
    return {name: split_report(df.filter(pl.col("persona_type") == "all"), user_profiles)
            for name, df in splits.items()}


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
