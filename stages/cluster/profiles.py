"""User profiles and the 90x90 correlation from sums accumulated one ratings file at a time.

A profile is the thresholded mean of a user's single-comment directions (``alignx.taxonomy
.profile``), and a Pearson correlation needs only the count, the sums and the sums of products:
so neither needs every comment in memory at once, only one row per user and one 90x90 matrix.
"""

from __future__ import annotations

import numpy as np
import polars as pl

from alignx.directions import single_direction
from alignx.taxonomy import N_DIMENSIONS, profile


def directions(ratings: pl.Series) -> np.ndarray:
    """(n, 90) directions of a whole ratings column at once (``single_direction`` is element-wise)."""
    if len(ratings) == 0:
        return np.zeros((0, N_DIMENSIONS))
    return single_direction(ratings.list.to_array(N_DIMENSIONS).to_numpy())


class Accumulator:
    """Per-user direction sums and counts, and the correlation's moments, over ``add``ed files."""

    def __init__(self):
        self.n = 0
        self.sum = np.zeros(N_DIMENSIONS)
        self.products = np.zeros((N_DIMENSIONS, N_DIMENSIONS))
        self.users = pl.DataFrame(schema={"author": pl.String, "n_comments": pl.Int64,
                                          **{f"s{d}": pl.Float64 for d in range(N_DIMENSIONS)}})

    def add(self, ratings: pl.DataFrame) -> None:
        """One file of annotate's rows (author, ratings, status): its rated comments."""
        ok = ratings.filter(pl.col("status") == "ok")
        dirs = directions(ok["ratings"])
        self.n += len(dirs)
        self.sum += dirs.sum(axis=0)
        self.products += dirs.T @ dirs
        part = pl.DataFrame({"author": ok["author"], **{f"s{d}": dirs[:, d] for d in range(N_DIMENSIONS)}})
        part = part.group_by("author").agg(pl.len().cast(pl.Int64).alias("n_comments"), pl.all().sum())
        self.users = (pl.concat([self.users, part.select(self.users.columns)])
                      .group_by("author").agg(pl.all().sum()))

    def correlation(self) -> np.ndarray:
        """90x90 Pearson correlation; dimensions that never vary get 0 off the diagonal."""
        if self.n < 2:
            return np.eye(N_DIMENSIONS)
        mean = self.sum / self.n
        cov = self.products / self.n - np.outer(mean, mean)
        sd = np.sqrt(np.clip(np.diag(cov), 0, None))
        with np.errstate(invalid="ignore", divide="ignore"):
            corr = np.clip(cov / np.outer(sd, sd), -1.0, 1.0)
        corr = np.nan_to_num(corr, nan=0.0, posinf=0.0, neginf=0.0)
        corr[np.outer(sd, sd) < 1e-12] = 0.0
        np.fill_diagonal(corr, 1.0)
        return corr

    def profiles(self) -> pl.DataFrame:
        """author, n_comments, profile (90 floats), sorted by author."""
        users = self.users.sort("author")
        sums = users.select([f"s{d}" for d in range(N_DIMENSIONS)]).to_numpy()
        n = users["n_comments"].to_numpy()
        # the mean of a user's directions, profiled as alignx.taxonomy.profile profiles them
        profs = [profile((s / c)[None, :]).tolist() for s, c in zip(sums, n)]
        return pl.DataFrame({"author": users["author"], "n_comments": users["n_comments"], "profile": profs},
                            schema={"author": pl.String, "n_comments": pl.Int64, "profile": pl.List(pl.Float32)})
