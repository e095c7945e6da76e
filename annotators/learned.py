"""The learned instrument of the offline annotator: per dimension, a small linear model that says
whether a comment gives evidence on the dimension and on which pole, abstaining below a threshold.

Features (``feature_matrix``, one row a comment, the comment's own text only): its static
sentence embedding (the configured model, default all-MiniLM-L6-v2-static: the same vectors the
topic instrument uses), the surface features of ``annotators/embedding.py`` (word count, links,
VADER sentiment, readability, the lexicon counts; counts on a log scale) and its topic
similarities. Standardized with the train split's mean and spread.

Model (``fit``; run by ``scripts/fit_learned_annotator.py``, ``make annotator``): for each
dimension with at least ``MIN_TRAIN_LABELS`` labelled items in the reference set's **train**
split, two logistic regressions (scikit-learn, lbfgs, fixed C): evidence (any label against
none) over every train item, and the pole (positive against negative) over the labelled ones;
a dimension labelled on one pole only keeps that pole. The evidence score of a comment is the
first model's probability, its sign the second's likelier pole. (A three-class model over {-,
none, +} validated on fewer dimensions of dev and test in a comparison on the same split.) Thresholds are fitted on the **dev** split only: ``t1`` (intensity 1,
evidence weak) is the lowest score whose dev predictions number at least ``MIN_PREDICTIONS``,
with evidence precision at least ``MIN_PRECISION`` (Wilson lower bound at least
``MIN_PRECISION_LOWER``) and sign accuracy at least ``MIN_SIGN_ACCURACY`` — the bar the rule
fitter sets; ``t2`` (intensity 2, evidence strong) the lowest score past ``t1`` whose dev
predictions are right at least ``STRONG_PRECISION`` of the time. A dimension without a ``t1`` is
left to the rules (or never rated). The test split is never read here: ``alignx
validate-annotator`` measures the result on it.

Weights are rounded to ``DECIMALS`` decimals before they are written, so a refit on the same
labels writes the same bytes (``annotators/resources/learned_annotator.npz`` and its ``.json``).
"""

from __future__ import annotations

import hashlib
import json
import math
from pathlib import Path

import numpy as np

RESOURCES = Path(__file__).parent / "resources"
WEIGHTS_FILE = RESOURCES / "learned_annotator.npz"
META_FILE = RESOURCES / "learned_annotator.json"

MIN_TRAIN_LABELS = 20
C = 0.2
MIN_PREDICTIONS = 8
MIN_PRECISION = 0.7
MIN_PRECISION_LOWER = 0.6
WILSON_Z = 1.64
MIN_SIGN_ACCURACY = 0.85
STRONG_PRECISION = 0.9
THRESHOLDS = np.round(np.arange(0.10, 0.96, 0.025), 3)
DECIMALS = 5
#: Surface features on a log scale (counts); the rest are used as they are.
COUNT_PREFIXES = ("lex_", "words", "links")
#: The form of a text: how long, how long its sentences and words are. An interest ("Likes ...")
#: is what a comment is about, never how long it is, so the interest models never read these
#: (fitted with them, "ok." was finance: short comments of crypto threads mostly are).
FORM_FEATURES = ("grade", "syllables_per_word", "words", "words_per_sentence")


def is_interest(dimension: int) -> bool:
    """Whether a dimension is an interest (its positive pole "Likes ...")."""
    from alignx.taxonomy import load_taxonomy

    return load_taxonomy().dimensions[dimension].label_1.startswith("Likes ")


def feature_names(features: dict[str, np.ndarray]) -> list[str]:
    """The scalar features the model reads, in a fixed order: every surface and topic feature
    (``lextopic_`` duplicates ``topic_`` where a lexicon word is present: left out)."""
    return sorted(k for k in features if not k.startswith("lextopic_"))


def feature_matrix(features: dict[str, np.ndarray], embeddings: np.ndarray, names: list[str]) -> np.ndarray:
    """(n, embedding size + len(names)) float32: the embeddings, then the named features."""
    cols = [np.log1p(np.maximum(features[k], 0.0)) if k.startswith(COUNT_PREFIXES) else features[k] for k in names]
    scalars = np.stack(cols, axis=1) if cols else np.zeros((len(embeddings), 0))
    return np.hstack([np.asarray(embeddings, dtype=np.float64), scalars]).astype(np.float32)


class LearnedModel:
    """The fitted models of the dimensions that passed on dev (``dims``), ready to predict."""

    def __init__(self, meta: dict, arrays: dict[str, np.ndarray]):
        self.meta = meta
        self.dims = [int(d["dimension"]) for d in meta["dimensions"]]
        self.names = meta["features"]
        self.mean, self.scale = arrays["mean"], arrays["scale"]
        # (k, 2, F) and (k, 2): row 0 the evidence model, row 1 the pole model (positive class);
        # pole (k,): +1 / -1 where a dimension has one pole only, 0 where the pole model decides
        self.weights, self.bias, self.pole = arrays["weights"], arrays["bias"], arrays["pole"]
        self.t1 = np.array([d["t1"] for d in meta["dimensions"]])
        self.t2 = np.array([np.inf if d["t2"] is None else d["t2"] for d in meta["dimensions"]])

    @classmethod
    def load(cls) -> "LearnedModel | None":
        """The shipped model, or None when none has been fitted."""
        if not (META_FILE.exists() and WEIGHTS_FILE.exists()):
            return None
        with np.load(WEIGHTS_FILE) as z:
            arrays = {k: z[k] for k in z.files}
        return cls(json.loads(META_FILE.read_text()), arrays)

    def scores(self, x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(evidence score, sign), each (n, k) over ``dims``: P(evidence), +1 / -1."""
        z = (np.asarray(x, dtype=np.float64) - self.mean) / self.scale
        logits = np.einsum("nf,kcf->nkc", z, self.weights) + self.bias[None, :, :]
        evidence = 1.0 / (1.0 + np.exp(-logits[:, :, 0]))
        sign = np.where(self.pole[None, :] != 0, self.pole[None, :], np.where(logits[:, :, 1] >= 0, 1, -1))
        return evidence, sign.astype(np.int8)

    def rate(self, x: np.ndarray, n_dimensions: int = 90) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(ratings, evidence, score): (n, 90) int8 intensity and evidence level on ``dims`` (0
        elsewhere), and the (n, 90) evidence score (-inf where not rated)."""
        score, sign = self.scores(x)
        level = (score >= self.t1).astype(np.int8) + (score >= self.t2).astype(np.int8)
        ratings = np.zeros((len(x), n_dimensions), dtype=np.int8)
        evidence = np.zeros_like(ratings)
        full = np.full((len(x), n_dimensions), -np.inf)
        ratings[:, self.dims] = (sign * level).astype(np.int8)
        evidence[:, self.dims] = level
        full[:, self.dims] = np.where(level > 0, score, -np.inf)
        return ratings, evidence, full


def version() -> str:
    """Part of the offline annotator's version: the model's files (none: "none")."""
    if not (META_FILE.exists() and WEIGHTS_FILE.exists()):
        return "none"
    return hashlib.sha256(META_FILE.read_bytes() + WEIGHTS_FILE.read_bytes()).hexdigest()[:12]


# -- fitting -------------------------------------------------------------------------------------
def wilson_lower(k: int, n: int, z: float = WILSON_Z) -> float:
    if n == 0:
        return 0.0
    p = k / n
    centre = p + z * z / (2 * n)
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n))
    return (centre - half) / (1 + z * z / n)


def fit_thresholds(score: np.ndarray, sign: np.ndarray, y: np.ndarray) -> dict | None:
    """``t1`` and ``t2`` of one dimension from its dev scores, signs and labelled intensities
    (``y``, 0 = no evidence), with the dev figures at ``t1``; None when no threshold passes."""
    for t in THRESHOLDS:
        m = score >= t
        n = int(m.sum())
        if n < MIN_PREDICTIONS:
            return None  # thresholds only rise from here: fewer predictions still
        hit = m & (y != 0)
        precision = hit.sum() / n
        sign_ok = (sign[hit] == np.sign(y[hit])).mean() if hit.any() else 0.0
        if precision >= MIN_PRECISION and wilson_lower(int(hit.sum()), n) >= MIN_PRECISION_LOWER \
                and sign_ok >= MIN_SIGN_ACCURACY:
            t2 = None
            for u in THRESHOLDS[THRESHOLDS > t]:
                mu = score >= u
                if mu.sum() < MIN_PREDICTIONS:
                    break
                if ((mu & (y != 0)).sum() / mu.sum()) >= STRONG_PRECISION:
                    t2 = float(u)
                    break
            return {"t1": float(t), "t2": t2, "dev": {
                "predictions": n, "precision": round(float(precision), 3), "sign_accuracy": round(float(sign_ok), 3),
                "recall": round(float(hit.sum() / max((y != 0).sum(), 1)), 3)}}
    return None


def _logistic(x: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, float]:
    """Weights and intercept of a logistic regression of ``y`` (0/1) on ``x``, rounded."""
    from sklearn.linear_model import LogisticRegression

    clf = LogisticRegression(C=C, max_iter=3000, tol=1e-6).fit(x, y)
    return np.round(clf.coef_[0], DECIMALS), round(float(clf.intercept_[0]), DECIMALS)


def fit(x_train: np.ndarray, y_train: np.ndarray, x_dev: np.ndarray, y_dev: np.ndarray, names: list[str],
        model: str) -> tuple[dict, dict[str, np.ndarray]]:
    """(meta, arrays) of the learned model: ``x_*`` feature matrices, ``y_*`` (n, 90) labelled
    intensities of the train and dev items. Deterministic: lbfgs from zeros, no sampling."""
    mean = np.round(x_train.mean(axis=0).astype(np.float64), DECIMALS)
    scale = np.round(x_train.std(axis=0).astype(np.float64) + 1e-6, DECIMALS)
    scale[scale == 0] = 1.0
    zt_all = (x_train - mean) / scale
    form = np.array([False] * (x_train.shape[1] - len(names)) + [n in FORM_FEATURES for n in names])
    content_only = np.where(form, 0.0, zt_all)  # a constant column: its weight fits to 0
    dims, weights, bias, poles = [], [], [], []
    for d in range(y_train.shape[1]):
        yt = np.sign(y_train[:, d]).astype(int)
        if (yt != 0).sum() < MIN_TRAIN_LABELS:
            continue
        zt = content_only if is_interest(d) else zt_all
        we, be = _logistic(zt, (yt != 0).astype(int))
        labelled = yt != 0
        signs = np.unique(yt[labelled])
        if len(signs) == 2 and min((yt == 1).sum(), (yt == -1).sum()) >= 3:
            ws, bs = _logistic(zt[labelled], (yt[labelled] == 1).astype(int))
            pole = 0
        else:  # one pole (or a handful of the other): that pole
            ws, bs = np.zeros_like(we), 0.0
            pole = 1 if (yt == 1).sum() >= (yt == -1).sum() else -1
        w, b = np.stack([we, ws]), np.array([be, bs])
        probe = LearnedModel({"features": names, "dimensions": [{"dimension": d, "t1": 0.0, "t2": None}]},
                             {"mean": mean, "scale": scale, "weights": w[None], "bias": b[None],
                              "pole": np.array([pole])})
        score, sign = probe.scores(x_dev)
        th = fit_thresholds(score[:, 0], sign[:, 0], y_dev[:, d])
        if th is None:
            continue
        dims.append({"dimension": d, "train_labels": int(labelled.sum()), **th})
        weights.append(w)
        bias.append(b)
        poles.append(pole)
    meta = {"model": model, "features": names, "C": C, "train_items": int(len(x_train)),
            "dev_items": int(len(x_dev)), "dimensions": dims}
    arrays = {"mean": mean, "scale": scale,
              "weights": np.array(weights, dtype=np.float64).reshape(len(dims), 2, zt.shape[1]),
              "bias": np.array(bias, dtype=np.float64).reshape(len(dims), 2),
              "pole": np.array(poles, dtype=np.int8)}
    return meta, arrays


def write(meta: dict, arrays: dict[str, np.ndarray]) -> None:
    """The model's two files, byte-identical for identical inputs (np.savez stores no time)."""
    META_FILE.write_text(json.dumps(meta, indent=1, sort_keys=True) + "\n")
    tmp = WEIGHTS_FILE.with_suffix(".tmp.npz")
    np.savez_compressed(tmp, **{k: arrays[k] for k in sorted(arrays)})
    tmp.replace(WEIGHTS_FILE)
