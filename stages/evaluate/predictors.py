"""Examples and the untrained predictors of the evaluation (the trained one is in ``trained.py``;
accuracy, intervals and the report in ``report.py``), for release shards and for benchmark
files in the AlignX benchmark format (P-SOUPS and the like).

An example is a dict with prompt, chosen, rejected and persona fields ("User-Generated
Content", "Pair-wise Comparative Feedback", "Demographic Information" or "profile"; directions
may be absent). Persona types: ``ugc``, ``pair``, ``demo`` (only that signal), ``all``, and
``golden`` (the target's own Preference Direction as the profile: the ceiling a perfect
persona would reach).

Every predictor has ``scores(examples, persona) -> np.ndarray``: > 0 predicts chosen; accuracy
is the share of examples with a score strictly above 0 (ties are misses).
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

import numpy as np

from alignx.directions import gate, pair_direction, single_direction
from alignx.orientation import margins
from annotators.embedding import EmbeddingAnnotator
from annotators.measures import raw_measures
from pipeline.errors import UserError
from alignx.taxonomy import N_DIMENSIONS, load_taxonomy, profile

REPORTED_PERSONAS = ("ugc", "pair", "demo", "all", "golden")
UGC = "User-Generated Content"
PAIR = "Pair-wise Comparative Feedback"
DEMO = "Demographic Information"


def load_examples(path: Path) -> list[dict[str, Any]]:
    """Rows of a release shard (.parquet, or a folder of them) or a benchmark file (.json list / .jsonl)."""
    import polars as pl

    path = Path(path)
    if path.is_dir():
        files = sorted(path.glob("test-*.parquet")) or sorted(path.glob("*.parquet"))
        if not files:
            raise UserError(f"{path}: no parquet shards in this folder")
        return [r for f in files for r in pl.read_parquet(f).iter_rows(named=True)]
    if path.suffix == ".parquet":
        return pl.read_parquet(path).to_dicts()
    try:
        if path.suffix == ".jsonl":
            rows = [json.loads(line) for line in path.read_text().splitlines() if line.strip()]
        else:
            rows = json.loads(path.read_text())
    except (OSError, json.JSONDecodeError) as exc:
        raise UserError(f"{path}: cannot read examples ({exc})") from None
    if not isinstance(rows, list) or not rows or not all(k in rows[0] for k in ("prompt", "chosen", "rejected")):
        raise UserError(f"{path}: expected a list of examples with prompt, chosen and rejected")
    return rows


def load_rows(files: list[Path]) -> list[dict[str, Any]]:
    """Every row of these parquet shards, in the order given."""
    import polars as pl

    return [r for f in files for r in pl.read_parquet(f).iter_rows(named=True)]


def persona_types(examples: list[dict]) -> list[str]:
    """Which persona types the examples can be evaluated under (none for no examples)."""
    if not examples:
        return []
    first = examples[0]
    out = []
    if any(e.get(UGC) for e in examples):
        out.append("ugc")
    if any(e.get(PAIR) for e in examples):
        out.append("pair")
    if any(e.get(DEMO) or e.get("profile") for e in examples):
        out.append("demo")
    out.append("all")
    if first.get("Preference Direction") is not None:
        out.append("golden")
    return out


def rows_for(examples: list[dict], persona: str) -> list[dict]:
    """A release's test split holds each target once per persona_type; benchmarks hold each once."""
    if examples and "persona_type" in examples[0]:
        want = "all" if persona == "golden" else persona
        return [e for e in examples if e.get("persona_type") == want]
    return examples


def demo_text(e: dict) -> str:
    return e.get(DEMO) or e.get("profile") or ""


def profile_from_labels(text: str) -> np.ndarray:
    """Profile (90,) from a text naming pole labels (a rendered profile or Demographic Information)."""
    prof = np.full(N_DIMENSIONS, 0.5)
    labels = sorted(((d.label_1, d.index, 1.0) for d in load_taxonomy()), key=lambda t: -len(t[0]))
    labels += sorted(((d.label_0, d.index, 0.0) for d in load_taxonomy()), key=lambda t: -len(t[0]))
    labels.sort(key=lambda t: -len(t[0]))
    rest = text
    for label, index, value in labels:
        if label in rest:
            prof[index] = value
            rest = rest.replace(label, " ")
    return prof


def all_texts(examples: list[dict]) -> list[str]:
    """Every response and history text of the examples (for one batched pass of a model)."""
    out = []
    for e in examples:
        out += [e["chosen"], e["rejected"]]
        out += [x["comment"] for x in e.get(UGC) or []]
        out += [t for x in e.get(PAIR) or [] for t in (x["chosen"], x["rejected"])]
        if demo_text(e):
            out.append(demo_text(e))
    return out


# -- predictors -------------------------------------------------------------------------------
class RandomPredictor:
    name = "random"

    def __init__(self, seed: int):
        self.seed = seed

    def scores(self, examples, persona):
        return np.random.default_rng(self.seed).choice([-1.0, 1.0], size=len(examples))


class PositionPredictor:
    """Prefers the response a fixed, content-free presentation order shows first (the one whose
    sha256 sorts lower): what a judge with pure position bias scores. Near 50% unless the
    orientation of chosen/rejected correlates with something that is not their content."""

    name = "position"

    def scores(self, examples, persona):
        def first(e):
            return hashlib.sha256(e["chosen"].encode()).digest() < hashlib.sha256(e["rejected"].encode()).digest()
        return np.array([1.0 if first(e) else -1.0 for e in examples])


class LengthPredictor:
    """Prefers the longer response (a verbosity baseline)."""

    name = "length"

    def scores(self, examples, persona):
        return np.array([len(e["chosen"]) - len(e["rejected"]) for e in examples], dtype=float)


def _given_directions(items: list[dict]) -> list[np.ndarray] | None:
    """The history items' own directions (each shape (90,)), or None when any item lacks one
    (benchmark files: the predictor rates the texts instead)."""
    given = [i.get("Preference Direction") for i in items]
    if not items or any(g is None for g in given):
        return None
    return [np.asarray(g, dtype=float) for g in given]


class ProfilePredictor:
    """No training: rate the history with the annotator (or use its directions), build the
    profile, and prefer the response whose rating difference agrees with it. With the same
    annotator that oriented a release's targets it measures consistency, not a model."""

    name = "profile"
    uses_golden = True
    #: read the history items' released directions when every item has one (the release's own
    #: annotator wrote them); False: always re-rate the history texts with ``annotator``
    use_given = True

    def __init__(self, annotator: EmbeddingAnnotator):
        self.annotator = annotator
        self.memo: dict[str, np.ndarray] = {}
        self.measures: dict[str, np.ndarray] = {}

    def prepare(self, texts: list[str]) -> None:
        """Rate every text once, in one batch, and take its raw measures (alignx.directions.MEASURES), which
        pair directions compare on the relative dimensions as the release's assemble does."""
        todo = list(dict.fromkeys(t for t in texts if t not in self.memo))
        if todo:
            self.memo.update(zip(todo, gate(*self.annotator.rate(todo))))
            self.measures.update(zip(todo, raw_measures(todo)))

    def _ratings(self, texts: list[str]) -> np.ndarray:
        self.prepare(texts)
        return np.stack([self.memo[t] for t in texts]) if texts else np.zeros((0, N_DIMENSIONS))

    def _pair_directions(self, chosen: list[str], rejected: list[str]) -> np.ndarray:
        """(n, 90) directions of the pairs (chosen[i], rejected[i]), by alignx.directions' rules
        with both sides' raw measures."""
        rc, rr = self._ratings(chosen), self._ratings(rejected)
        mc = np.stack([self.measures[t] for t in chosen]) if chosen else None
        mr = np.stack([self.measures[t] for t in rejected]) if rejected else None
        return pair_direction(rc, rr, measures_chosen=mc, measures_rejected=mr)

    def history_directions(self, e: dict, persona: str = "all") -> list[np.ndarray]:
        """The directions (each (90,)) of the example's history items that ``persona`` reads (UGC
        for ugc, PAIR for pair, both for all): the released ones, or re-rated when an item lacks one."""
        dirs = []
        if persona in ("ugc", "all"):
            items = e.get(UGC) or []
            given = _given_directions(items) if self.use_given else None
            if given is not None:
                dirs += given
            elif items:
                dirs += [single_direction(r) for r in self._ratings([i["comment"] for i in items])]
        if persona in ("pair", "all"):
            items = e.get(PAIR) or []
            given = _given_directions(items) if self.use_given else None
            if given is not None:
                dirs += given
            elif items:
                dirs += list(self._pair_directions([i["chosen"] for i in items], [i["rejected"] for i in items]))
        return dirs

    def history_profile(self, e: dict, persona: str) -> np.ndarray:
        if persona == "golden":
            return np.asarray(e["Preference Direction"], dtype=float)
        dirs = self.history_directions(e, persona)
        if persona in ("demo",) or (persona == "all" and not dirs):
            return profile_from_labels(demo_text(e))
        return profile(np.stack(dirs)) if dirs else np.full(N_DIMENSIONS, 0.5)

    def scores(self, examples, persona):
        self.prepare(all_texts(examples))  # one batch for every text the profiles may re-rate
        profiles = np.array([self.history_profile(e, persona) for e in examples]).reshape(-1, N_DIMENSIONS)
        return margins(self.target_directions(examples), profiles)

    def target_directions(self, examples: list[dict]) -> np.ndarray:
        """(n, 90) directions of the examples' own pairs (chosen over rejected)."""
        return self._pair_directions([e["chosen"] for e in examples], [e["rejected"] for e in examples])


class IndependentPredictor(ProfilePredictor):
    """The profile predictor with another annotator than the one that built the pairs: the
    offline instruments over a different embedding model (default: the static model2vec
    distillation of MiniLM, ``alignx.embeddings.STATIC_MODEL``). It re-rates the history's texts
    itself (it never reads the released directions) and both responses, so agreement with the
    release's orientation is no longer true by construction. The surface instruments (length,
    sentiment, reading grade) are shared with the release's annotator; only the topic
    (interest) ratings come from the other model."""

    name = "independent"
    uses_golden = False  # the golden direction is the release annotator's own profile
    use_given = False


class EmbeddingPredictor:
    """PAIR: the mean embedding difference of history pairs (chosen minus rejected), compared
    with the target's difference; UGC: similarity to the user's comments; DEMO: similarity to
    the demographic text; all: their sum."""

    name = "embedding"

    def __init__(self, embedder):
        self.embedder = embedder

    def scores(self, examples, persona):
        if not examples:  # an empty split: nothing to stack
            return np.zeros(0)
        texts = list(dict.fromkeys(all_texts(examples)))
        vectors = dict(zip(texts, self.embedder.encode(texts))) if texts else {}

        def enc(batch: list[str]) -> np.ndarray:
            return np.stack([vectors[t] for t in batch])

        diff = enc([e["chosen"] for e in examples]) - enc([e["rejected"] for e in examples])
        out = np.zeros(len(examples))
        for i, e in enumerate(examples):
            total = 0.0
            if persona in ("pair", "all") and e.get(PAIR):
                items = e[PAIR]
                v = (enc([x["chosen"] for x in items]) - enc([x["rejected"] for x in items])).mean(axis=0)
                total += float(diff[i] @ v)
            if persona in ("ugc", "all") and e.get(UGC):
                u = enc([x["comment"] for x in e[UGC]]).mean(axis=0)
                total += float(diff[i] @ u)
            if persona in ("demo", "all") and demo_text(e):
                total += float(diff[i] @ enc([demo_text(e)])[0])
            out[i] = total
        return out


# -- persona prompts (logprob and llm-judge) ----------------------------------------------------
def persona_text(e: dict, persona: str) -> str:
    """The persona as text, in the in-context (ICA) style: history items, then the description."""
    parts = []
    if persona in ("ugc", "all"):
        for x in e.get(UGC) or []:
            parts.append(f"The user wrote, on \"{x['prompt'][:300]}\":\n{x['comment']}")
    if persona in ("pair", "all"):
        for x in e.get(PAIR) or []:
            parts.append(f"On \"{x['prompt'][:300]}\" the user preferred:\n{x['chosen']}\nover:\n{x['rejected']}")
    if persona in ("demo", "all") and demo_text(e):
        parts.append(f"About the user: {demo_text(e)}")
    if persona == "golden" and e.get("Preference Direction") is not None:
        from alignx.taxonomy import render_profile

        parts.append(f"About the user: {render_profile(np.asarray(e['Preference Direction']))}")
    return "\n\n".join(parts) or "(no information about the user)"


def ica_prompt(e: dict, persona: str) -> str:
    """The policy's context for a response: persona, then the post."""
    return f"{persona_text(e, persona)}\n\nPost:\n{e['prompt']}\n\nResponse this user prefers:\n"


class LogprobPredictor:
    """The paper's metric with local Hugging Face causal LMs: reward = beta x (policy log-prob -
    reference log-prob) of a response given the persona prompt; the score is chosen's reward
    minus rejected's. Inputs are left-truncated to ``max_length`` tokens (the response's own
    tokens are kept), batched, on the GPU when torch sees one."""

    name = "logprob"

    def __init__(self, policy, reference, tokenizer, *, beta: float = 0.1, max_length: int = 1024,
                 batch_size: int = 8):
        import torch

        self.device = "cuda" if torch.cuda.is_available() else "cpu"
        self.policy = policy.to(self.device).eval()
        self.reference = reference.to(self.device).eval()
        self.tokenizer = tokenizer
        self.beta, self.max_length, self.batch_size = beta, max_length, batch_size

    @classmethod
    def from_pretrained(cls, policy: str, reference: str, **kw) -> "LogprobPredictor":
        from transformers import AutoModelForCausalLM, AutoTokenizer

        tok = AutoTokenizer.from_pretrained(policy)
        return cls(AutoModelForCausalLM.from_pretrained(policy), AutoModelForCausalLM.from_pretrained(reference),
                   tok, **kw)

    def _encode(self, prompt: str, response: str) -> tuple[list[int], int]:
        """Token ids of prompt + response, left-truncated; and how many trailing ids are the response."""
        p = self.tokenizer(prompt, add_special_tokens=False)["input_ids"]
        r = self.tokenizer(response, add_special_tokens=False)["input_ids"][: self.max_length - 1]
        ids = (p + r)[-self.max_length:]
        return ids, len(r)

    def sequence_logprobs(self, model, prompts: list[str], responses: list[str]) -> np.ndarray:
        """Sum over the response's tokens of log p(token | everything before it), per pair."""
        import torch

        out = []
        for start in range(0, len(prompts), self.batch_size):
            batch = [self._encode(p, r) for p, r in zip(prompts[start:start + self.batch_size],
                                                          responses[start:start + self.batch_size])]
            width = max(len(ids) for ids, _ in batch)
            pad = self.tokenizer.pad_token_id if self.tokenizer.pad_token_id is not None else 0
            input_ids = torch.full((len(batch), width), pad, dtype=torch.long)
            mask = torch.zeros((len(batch), width), dtype=torch.long)
            for i, (ids, _) in enumerate(batch):  # left padding: every sequence ends at the last column
                input_ids[i, width - len(ids):] = torch.tensor(ids)
                mask[i, width - len(ids):] = 1
            positions = (mask.cumsum(dim=1) - 1).clamp(min=0)  # left padding must not shift positions
            with torch.no_grad():
                logits = model(input_ids=input_ids.to(self.device), attention_mask=mask.to(self.device),
                               position_ids=positions.to(self.device)).logits
            logp = torch.log_softmax(logits.float()[:, :-1], dim=-1)
            token_logp = logp.gather(-1, input_ids.to(self.device)[:, 1:].unsqueeze(-1)).squeeze(-1)
            for i, (ids, n_resp) in enumerate(batch):
                out.append(float(token_logp[i, width - 1 - n_resp:].sum()) if n_resp else 0.0)
        return np.array(out)

    def rewards(self, prompts: list[str], responses: list[str]) -> np.ndarray:
        return self.beta * (self.sequence_logprobs(self.policy, prompts, responses)
                            - self.sequence_logprobs(self.reference, prompts, responses))

    def scores(self, examples, persona):
        prompts = [ica_prompt(e, persona) for e in examples]
        return (self.rewards(prompts, [e["chosen"] for e in examples])
                - self.rewards(prompts, [e["rejected"] for e in examples]))


JUDGE_SCHEMA = {"type": "object", "properties": {"preferred": {"type": "string", "enum": ["A", "B"]}},
                "required": ["preferred"], "additionalProperties": False}


class JudgePredictor:
    """Any OpenAI-compatible chat model is shown the persona, the post and two responses and asked
    which this user prefers; both orders are asked to cancel position bias. Score = votes for
    chosen - votes for rejected (-2..2); an answer outside the schema is a counted abstention."""

    name = "llm-judge"

    def __init__(self, p: dict):
        from alignx.llm import client_kwargs

        import openai

        self.p = p
        self.client = openai.OpenAI(**client_kwargs(p))
        self.invalid = 0
        self.requests = 0

    def _ask(self, e: dict, persona: str, a: str, b: str) -> str | None:
        content = (f"{persona_text(e, persona)}\n\nPost:\n{e['prompt']}\n\nResponse A:\n{a}\n\nResponse B:\n{b}\n\n"
                   "Which response would this user prefer? Answer with a JSON object {\"preferred\": \"A\" or \"B\"}.")
        self.requests += 1
        try:
            resp = self.client.chat.completions.create(
                model=self.p["model"], messages=[{"role": "user", "content": content}],
                temperature=self.p["temperature"], seed=self.p["sampling_seed"], max_tokens=20,
                extra_body={"response_format": {"type": "json_schema", "json_schema": {
                    "name": "judge", "strict": True, "schema": JUDGE_SCHEMA}}})
            answer = json.loads(resp.choices[0].message.content)["preferred"]
            if answer not in ("A", "B"):
                raise ValueError(answer)
            return answer
        except Exception:  # any failure to get a valid verdict is an abstention, counted
            self.invalid += 1
            return None

    def scores(self, examples, persona):
        out = np.zeros(len(examples))
        for i, e in enumerate(examples):
            first = self._ask(e, persona, e["chosen"], e["rejected"])
            second = self._ask(e, persona, e["rejected"], e["chosen"])
            out[i] = (first == "A") - (first == "B") + (second == "B") - (second == "A")
        return out


def win_rate(examples: list[dict], p: dict, persona: str = "all") -> dict:
    """Generate a response per example conditioned on the persona and one without it (the
    baseline) with the same OpenAI-compatible model, then have the judge compare them in both
    orders: a win needs both orders, a loss both orders the other way; anything else is a tie."""
    judge = JudgePredictor(p)
    counts = {"win": 0, "tie": 0, "loss": 0}
    for e in examples:
        personalized = _generate(judge, f"{persona_text(e, persona)}\n\nAnswer this post the way this user would "
                                        f"prefer:\n{e['prompt']}")
        baseline = _generate(judge, f"Answer this post:\n{e['prompt']}")
        first = judge._ask(e, persona, personalized, baseline)
        second = judge._ask(e, persona, baseline, personalized)
        votes = (first == "A") - (first == "B") + (second == "B") - (second == "A")
        counts["win" if votes == 2 else "loss" if votes == -2 else "tie"] += 1
    n = len(examples)
    return {**counts, "n": n, "win_rate": counts["win"] / n if n else 0.0, "judge_invalid_answers": judge.invalid,
            "generator": p["model"], "judge": p["model"]}


def _generate(judge: "JudgePredictor", content: str) -> str:
    resp = judge.client.chat.completions.create(
        model=judge.p["model"], messages=[{"role": "user", "content": content}],
        temperature=judge.p["temperature"], seed=judge.p["sampling_seed"], max_tokens=400)
    return resp.choices[0].message.content or ""
