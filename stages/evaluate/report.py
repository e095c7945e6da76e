"""One evaluation report: accuracy per predictor and persona type with intervals over distinct
items, the persona's measured value (trained minus no-persona), the shortcut flag, the leakage
audit, and the published numbers beside ours, labelled as published.

Written per dataset: ``report.json``, ``report.md``, ``accuracy.png`` (and, when the trained
predictor ran, ``trained_head.npz`` / ``trained_head.json``).
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from stages.evaluate import leakage
from stages.evaluate.intervals import BOOTSTRAP, accuracy_interval, cluster_bootstrap, item_ids
from stages.evaluate.predictors import REPORTED_PERSONAS, persona_types, rows_for

#: Predictors that ignore the persona: a persona predictor must beat them to mean anything.
SHORTCUTS = ("length", "position", "no-persona")
#: Predictors that are neither a persona model nor a shortcut.
REFERENCE = ("random",)
#: Content-free rules that are as much a shortcut the other way round, and what that way is.
REVERSED = {"length": "prefers the shorter response", "position": "prefers the response shown second"}
#: On a release, these share the release's own instruments (the rating scheme and the directions
#: rule that oriented the pairs): their accuracy is close to agreement by construction, so a
#: shortcut compared with them would hide behind a consistency figure.
CONSISTENCY = ("profile", "independent")


def label(pred: str, benchmark: bool) -> str:
    """What a predictor's number measures, printed beside it."""
    return {
        "profile": ("annotator profile, no training" if benchmark else
                    "consistency (same annotator that built the pairs)"),
        "independent": ("annotator profile, other embedding model, no training" if benchmark else
                        "independent annotator (other embedding model re-rates history and responses)"),
        "embedding": "history-embedding similarity, no training",
        "trained": "trained on the release's train split (with persona)",
        "no-persona": "shortcut: the trained model without the persona",
        "length": "shortcut: prefers the longer response",
        "position": "shortcut: prefers the response shown first",
        "random": "chance",
        "llm-judge": "LLM judge, both orders",
        "logprob": "policy vs reference log-prob (the paper's metric)",
    }.get(pred, pred)


#: Published alignment accuracies (%), docs/design.md section 4, each with what was measured.
PUBLISHED = {
    "Llama-3-8B-Instruct": ({"ugc": 50.32, "pair": 50.11, "demo": 48.12, "all": 48.84, "P-SOUPS": 49.44},
                            "untuned 8B model, reward margin given the persona, on AlignX-test / P-SOUPS"),
    "AlignXpert-ICA (full data)": ({"ugc": 59.63, "pair": 58.48, "demo": 91.44, "all": 75.19, "P-SOUPS": 63.33},
                                   "8B model trained on the 1.3M AlignX examples, persona in context"),
    "AlignXpert-PBA (full data)": ({"ugc": 57.83, "pair": 59.66, "demo": 88.46, "all": 71.10, "P-SOUPS": 81.69},
                                   "8B model trained on the 1.3M AlignX examples, persona as a preference vector"),
}


@dataclass
class Cell:
    predictor: str
    persona: str
    n: int
    correct: int
    ci: tuple[float, float]
    method: str
    hits: np.ndarray = field(repr=False)  # (n,) bool per row
    clusters: np.ndarray = field(repr=False)  # (n,) distinct-item id per row
    losses: np.ndarray | None = field(default=None, repr=False)  # (n,) bool: score < 0 (prefers rejected)

    @property
    def accuracy(self) -> float:
        return self.correct / self.n if self.n else float("nan")

    def to_json(self) -> dict:
        return {"predictor": self.predictor, "persona": self.persona, "n": self.n,
                "distinct_items": int(len(np.unique(self.clusters))), "accuracy": round(self.accuracy, 4),
                "ci95": [round(self.ci[0], 4), round(self.ci[1], 4)], "interval": self.method}


def evaluate(examples: list[dict], predictors: list, resamples: int, seed: int,
             personas: list[str] | None = None) -> list[Cell]:
    """One cell per (persona type, predictor); ``golden`` only for predictors that read it."""
    cells = []
    for persona in personas or persona_types(examples):
        rows = rows_for(examples, persona)
        if not rows:
            continue
        clusters = item_ids(rows)
        for pred in predictors:
            if persona == "golden" and not getattr(pred, "uses_golden", False):
                continue  # the golden direction is a profile: only the profile predictor reads it
            scores = np.asarray(pred.scores(rows, persona))
            hits = scores > 0
            lo, hi, method = accuracy_interval(hits, clusters, resamples, seed)
            cells.append(Cell(pred.name, persona, len(rows), int(hits.sum()), (lo, hi), method, hits, clusters,
                              scores < 0))
    return cells


def persona_gain(cells: list[Cell], resamples: int, seed: int) -> list[dict]:
    """trained minus no-persona accuracy per persona type, with a paired cluster-bootstrap interval."""
    by = {(c.predictor, c.persona): c for c in cells}
    out = []
    for (pred, persona), with_p in by.items():
        without = by.get(("no-persona", persona))
        if pred != "trained" or without is None:
            continue
        diff = with_p.hits.astype(float) - without.hits.astype(float)
        lo, hi = cluster_bootstrap(diff, with_p.clusters, resamples, seed)
        out.append({"persona": persona, "trained": round(with_p.accuracy, 4), "no_persona": round(without.accuracy, 4),
                    "gain": round(float(diff.mean()), 4), "ci95": [round(lo, 4), round(hi, 4)]})
    return out


def shortcut_reference(cells: list[Cell], benchmark: bool = True) -> list[str]:
    """The predictors every shortcut is compared with: the trained predictor (the model a user
    would train on the data) when it ran; otherwise every persona predictor, less (on a release)
    those that share the release's own instruments (CONSISTENCY)."""
    names = list(dict.fromkeys(c.predictor for c in cells))
    if "trained" in names:
        return ["trained"]
    left_out = SHORTCUTS + REFERENCE + (() if benchmark else CONSISTENCY)
    return sorted(n for n in names if n not in left_out)


def shortcut_flags(cells: list[Cell], benchmark: bool = True) -> list[str]:
    """Per persona type: a shortcut baseline within the interval of, or above, the best of the
    reference predictors (``shortcut_reference``: the trained predictor when it ran)."""
    out = []
    reference = shortcut_reference(cells, benchmark)
    for persona in dict.fromkeys(c.persona for c in cells):
        here = [c for c in cells if c.persona == persona]
        persona_preds = [c for c in here if c.predictor in reference]
        if not persona_preds:
            continue
        best = max(persona_preds, key=lambda c: c.accuracy)
        for c in here:
            if c.predictor not in SHORTCUTS:
                continue
            name, acc = c.predictor, c.accuracy
            if c.predictor in REVERSED and c.losses is not None and c.losses.mean() > acc:
                # a content-free rule works either way round: preferring the shorter is as much a shortcut
                name, acc = f"{c.predictor} reversed ({REVERSED[c.predictor]})", float(c.losses.mean())
            if acc >= best.ci[0]:
                out.append(f"SHORTCUT: {name} ({100 * acc:.1f}%) is within the interval of, or above, "
                           f"{best.predictor} on {persona} ({100 * best.accuracy:.1f}% "
                           f"[{100 * best.ci[0]:.1f}, {100 * best.ci[1]:.1f}])")
    return out


def chosen_longer_share(examples: list[dict]) -> float:
    """Share of distinct (prompt, chosen, rejected) items whose chosen response is the longer one."""
    items = {(e["prompt"], e["chosen"], e["rejected"]) for e in examples}
    return sum(len(c) > len(r) for _, c, r in items) / len(items) if items else float("nan")


def build_report(name: str, examples: list[dict], predictors: list, audit_predictor, *, benchmark: bool,
                 margin: float, resamples: int, seed: int) -> tuple[dict, list[Cell]]:
    """Evaluate and assemble ``report.json``'s content."""
    cells = evaluate(examples, predictors, resamples, seed)
    full = rows_for(examples, "all")
    audit = leakage.audit(full, audit_predictor, margin)
    report = {
        "dataset": name, "examples": len(examples), "distinct_items": int(len(np.unique(item_ids(full)))) if full else 0,
        "results": [{**c.to_json(), "label": label(c.predictor, benchmark)} for c in cells],
        "persona_gain": persona_gain(cells, resamples, seed),
        "chosen_longer_share": round(chosen_longer_share(full), 4) if full else None,
        "shortcut_flags": shortcut_flags(cells, benchmark),
        "shortcut_compared_with": shortcut_reference(cells, benchmark),
        "leakage": audit,
        "leakage_warnings": [leakage.summary(audit)] if audit["status"] == leakage.LEAK else [],
        "interval": {"resamples": resamples, "seed": seed},
        "judge_invalid_answers": {pr.name: pr.invalid for pr in predictors if hasattr(pr, "invalid")},
        "judge_requests": {pr.name: pr.requests for pr in predictors if hasattr(pr, "requests")},
    }
    return report, cells


def _pct(acc: float, ci) -> str:
    return f"{100 * acc:.1f} [{100 * ci[0]:.1f}, {100 * ci[1]:.1f}]"


def markdown_report(report: dict, benchmark: bool) -> str:
    results = report["results"]
    personas = [p for p in REPORTED_PERSONAS if any(r["persona"] == p for r in results)]
    preds = list(dict.fromkeys(r["predictor"] for r in results))
    by = {(r["predictor"], r["persona"]): r for r in results}
    methods = sorted({r["interval"] for r in results})
    lines = [f"# Evaluation: {report['dataset']}", ""]
    if not results:
        lines += ["**No examples to evaluate** (an empty test split?).", ""]
    lines += [f"Alignment accuracy (% of examples where the predictor prefers the chosen response), with 95% "
              f"intervals: {'; '.join(methods) or '-'}"
              + (f" ({report['interval']['resamples']} resamples, seed {report['interval']['seed']})"
                 if BOOTSTRAP in methods else "") + ". "
              f"{report['examples']} rows, {report['distinct_items']} distinct (prompt, chosen, rejected) items.", "",
              "| predictor | what it measures | " + " | ".join(personas) + " |", "|---" * (len(personas) + 2) + "|"]
    for pred in preds:
        row = [f"{_pct(c['accuracy'], c['ci95'])} (n={c['n']})" if (c := by.get((pred, p))) else "-"
               for p in personas]
        lines.append(f"| {pred} | {label(pred, benchmark)} | " + " | ".join(row) + " |")
    for pred, why in report.get("not_run", {}).items():
        lines.append(f"| {pred} | not run: {why} |" + " - |" * len(personas))
    if report["persona_gain"]:
        lines += ["", "## What the persona adds (trained minus no-persona, paired cluster bootstrap)", "",
                  "| persona | trained | no-persona | gain (points) |", "|---|---|---|---|"]
        for g in report["persona_gain"]:
            lines.append(f"| {g['persona']} | {100 * g['trained']:.1f} | {100 * g['no_persona']:.1f} | "
                         f"{_pct(g['gain'], g['ci95'])} |")
    share = report["chosen_longer_share"]
    lines += ["", "## Shortcuts", "",
              f"Chosen is the longer response in {100 * share:.1f}% of distinct items." if share is not None else
              "No items.", ""]
    compared = report["shortcut_compared_with"]
    lines += [f"**{f}**" for f in report["shortcut_flags"]] or [
        "No shortcut flag: every shortcut baseline (length and position either way round, no-persona) stays below "
        f"the interval of {', '.join(compared)}"
        + ("." if benchmark else "; profile and independent share the release's instruments and are left out.")
        if compared else
        "No shortcut check: no persona predictor to compare the shortcuts with"
        + (" (profile and independent share the release's instruments); add trained or embedding."
           if not benchmark else ".")]
    lines += ["", "## Label leakage", "", ("**" + leakage.summary(report["leakage"]) + "**")
              if report["leakage"]["status"] == leakage.LEAK else leakage.summary(report["leakage"])]
    lines += ["", "## Published (from the AlignX paper, not measured here)", "",
              "| model | what was measured | " + ("P-SOUPS |" if benchmark else "UGC | PAIR | DEMO | all |"),
              "|---|---|" + ("---|" if benchmark else "---|---|---|---|")]
    for model, (acc, what) in PUBLISHED.items():
        cols = [acc["P-SOUPS"]] if benchmark else [acc["ugc"], acc["pair"], acc["demo"], acc["all"]]
        lines.append(f"| {model} (published) | {what} | " + " | ".join(str(v) for v in cols) + " |")
    return "\n".join(lines) + "\n"


def chart(cells: list[Cell], path: Path, title: str) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    personas = [p for p in REPORTED_PERSONAS if any(c.persona == p for c in cells)]
    predictors = list(dict.fromkeys(c.predictor for c in cells))
    by = {(c.predictor, c.persona): c for c in cells}
    fig, ax = plt.subplots(figsize=(9, 4), dpi=100)
    width = 0.8 / max(1, len(predictors))
    for k, pred in enumerate(predictors):
        xs = [i + k * width for i in range(len(personas))]
        vals, errs = [], [[], []]
        for persona in personas:
            c = by.get((pred, persona))
            acc = c.accuracy if c else 0.0
            lo, hi = c.ci if c else (0.0, 0.0)
            vals.append(100 * acc)
            errs[0].append(100 * (acc - lo))
            errs[1].append(100 * (hi - acc))
        errs = np.clip(np.array(errs), 0, None)  # float noise at p = 0 or 1
        ax.bar(xs, vals, width, yerr=errs, label=pred, capsize=2, hatch="//" if pred in SHORTCUTS else None)
    ax.axhline(50, color="grey", linewidth=0.8, linestyle="--")
    ax.set_xticks([i + 0.4 - width / 2 for i in range(len(personas))], personas)
    ax.set_ylabel("alignment accuracy (%)")
    ax.set_ylim(0, 100)
    ax.set_title(title)
    ax.legend(fontsize=7)
    fig.tight_layout()
    tmp = path.with_name(".tmp-" + path.name)
    fig.savefig(tmp, format="png", metadata={"Software": None})
    plt.close(fig)
    tmp.replace(path)


def write_report(name: str, examples: list[dict], predictors: list, audit_predictor, out: Path, *,
                 benchmark: bool, margin: float, resamples: int, seed: int, heads=None,
                 not_run: dict[str, str] | None = None) -> dict:
    """Evaluate and write report.json, report.md, accuracy.png (and the trained head) into ``out``."""
    report, cells = build_report(name, examples, predictors, audit_predictor, benchmark=benchmark, margin=margin,
                                 resamples=resamples, seed=seed)
    report["not_run"] = not_run or {}
    out.mkdir(parents=True, exist_ok=True)
    if heads is not None:
        heads.save(out)
        report["trained_head"] = {k: v for k, v in heads.meta.items() if k != "cached"}
    for path, text in ((out / "report.json", json.dumps(report, indent=2) + "\n"),
                       (out / "report.md", markdown_report(report, benchmark))):
        tmp = path.with_name(".tmp-" + path.name)
        tmp.write_text(text, encoding="utf-8")
        tmp.replace(path)
    chart(cells, out / "accuracy.png", f"Alignment accuracy: {name}")
    return report
