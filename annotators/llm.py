"""Backend ``openai``: any OpenAI-compatible chat endpoint with strict structured output, several
comments per request behind one shared instruction prefix.

A request (``request_body``) is the instruction prefix (``ratings.instructions``: the scale, the
90 dimensions and the answer format, the same bytes in every request, so a provider that caches
prompt prefixes reuses it) and one user message with up to ``annotate.items_per_request``
comments, those of one post together under a single copy of the post (``plan_requests``,
``ratings.render_items``). The answer lists every comment by its number with the compact codes of
the dimensions it gives evidence for (``ratings.ANSWER_SCHEMA``). ``parse_answer`` maps it back
item by item: a comment whose entry is missing, repeated or invalid (an unknown dimension, a bad
intensity or evidence) is asked again alone, in a request of its own; the others are kept.
"""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

from alignx.llm import client_kwargs
from pipeline.logs import progress
from pipeline.secrets import redact
from annotators.ratings import (ANSWER_SCHEMA, Item, Result, Spend, agree, instructions, prompt_version,
                                render_items, validate_codes)

Rating = tuple[list[int], list[int]]


def plan_requests(items: list[Item], size: int) -> list[list[int]]:
    """The indices of ``items`` each request carries: the comments of one post next to each other
    (posts in the order they first appear, comments in their order), cut into requests of at most
    ``size``. The same items always give the same requests (the Batch API's request file is
    resumed by its hash)."""
    by_post: dict[str, list[int]] = {}
    for i, it in enumerate(items):
        by_post.setdefault(it.post, []).append(i)
    flat = [i for idx in by_post.values() for i in idx]
    return [flat[j:j + size] for j in range(0, len(flat), size)]


def request_body(p: dict, items: list[Item]) -> dict:
    """The chat completion request rating ``items`` together."""
    return {
        "model": p["model"],
        "messages": [
            {"role": "system", "content": instructions()},
            {"role": "user", "content": render_items(items)},
        ],
        "temperature": p["temperature"],
        "seed": p["sampling_seed"],
        "max_tokens": p["max_output_tokens"] * len(items),  # max_output_tokens is per comment
        # self-consistency: n samples in one request; only what a majority agrees on is kept
        **({"n": p["self_consistency"]} if p["self_consistency"] > 1 else {}),
        "response_format": {"type": "json_schema",
                            "json_schema": {"name": "ratings", "strict": True, "schema": ANSWER_SCHEMA}},
    }


def parse_answer(content: str | None, n: int) -> tuple[dict[int, Rating], dict[int, str]]:
    """One answer to a request of ``n`` comments, item by item: ({index: (ratings, evidence)} of
    the comments answered validly, {index: what is wrong} of the others: missing, listed twice,
    or invalid codes). Indices are 0-based (the answer numbers comments from 1). ValueError when
    the answer as a whole is unusable (empty, not JSON, not ``{"items": [...]}``)."""
    if not content:
        raise ValueError("empty answer")
    try:
        obj = json.loads(content)
    except json.JSONDecodeError as exc:
        raise ValueError(f"not valid JSON ({exc.msg} at char {exc.pos})") from None
    if not isinstance(obj, dict) or set(obj) != {"items"} or not isinstance(obj["items"], list):
        raise ValueError('expected a JSON object {"items": [...]} and nothing else')
    ok: dict[int, Rating] = {}
    bad: dict[int, str] = {}
    for entry in obj["items"]:
        i = entry.get("id") if isinstance(entry, dict) else None
        if isinstance(i, bool) or not isinstance(i, int) or not 1 <= i <= n:
            continue  # no comment of this request: what it meant to answer shows up as missing
        i -= 1
        if i in ok or i in bad:
            ok.pop(i, None)
            bad[i] = f"comment {i + 1} is listed twice"
            continue
        try:
            if set(entry) != {"id", "r"}:
                raise ValueError(f'keys {sorted(entry)}, expected "id" and "r"')
            ok[i] = validate_codes(entry["r"])
        except ValueError as exc:
            bad[i] = f"comment {i + 1}: {exc}"
    for i in range(n):
        if i not in ok and i not in bad:
            bad[i] = f"comment {i + 1} is missing from the answer"
    return ok, bad


def combine(answers: list[tuple[dict[int, Rating], dict[int, str]]], n: int) -> tuple[dict[int, Rating], dict[int, str]]:
    """The n samples of one request (self-consistency) item by item: a comment valid in every
    sample gets their majority (``agree``; one sample is taken as it is), any other comment the
    first sample's error about it."""
    ok, bad = {}, {}
    for i in range(n):
        errors = [b[i] for _, b in answers if i in b]
        if errors:
            bad[i] = errors[0]
        else:
            samples = [a[i] for a, _ in answers]
            ok[i] = samples[0] if len(samples) == 1 else agree(samples)
    return ok, bad


def shares(total: int, k: int) -> list[int]:
    """``total`` tokens of one request split over its ``k`` comments (they add up to ``total``)."""
    base, extra = divmod(total, k)
    return [base + (j < extra) for j in range(k)]


def reask(err: str, n: int) -> str:
    """The message that shows the model why its answer was rejected."""
    return (f"That answer was invalid: {err}. Answer again with only the JSON object {{\"items\": [...]}} listing "
            f"comments 1..{n} by \"id\", each with \"r\": codes like \"d16+2s\" (key d00..d89, intensity +2, +1, "
            f"-1 or -2, evidence s or w).")


class ChatBackend:
    """What the LLM backends (``openai``, ``openai-batch``) share: the configured model, the
    prompt's version, priced tokens, an endpoint, no raw measures and no fixed rules."""

    sends_requests = True

    @classmethod
    def model_of(cls, p: dict) -> str:
        return p["model"]

    @classmethod
    def fingerprint(cls, p: dict) -> dict[str, str]:
        return {"annotator_version": prompt_version()}

    @classmethod
    def spend(cls, p: dict) -> Spend:
        return Spend(price_in=p["price_input_per_mtok"], price_out=p["price_output_per_mtok"], max_cost=p["max_cost"])

    @classmethod
    def where(cls, p: dict) -> str:
        return f"at the endpoint {p['base_url'] or 'https://api.openai.com/v1'} (model {p['model']}, annotate.base_url)"

    @classmethod
    def measures(cls, texts: list[str]) -> None:
        return None

    @classmethod
    def ruled_dimensions(cls) -> list[int]:
        return []


class OpenAIAnnotator(ChatBackend):
    """Chat completions with strict structured output, several comments a request, bounded
    concurrency, retries.

    Transport errors (429 honouring Retry-After, 5xx, timeouts, connection errors) are retried
    by the openai client with exponential backoff and jitter (``max_retries``); after that every
    comment of the request is recorded as failed with the reason. An answer that is unusable as a
    whole (not JSON, not the schema) is asked again with the error shown to the model, up to
    ``invalid_retries`` times, then its comments are recorded as failed. A comment whose own entry
    is missing or invalid is asked again alone (with the same retries); the rest of the answer is
    kept.
    """

    backend = "openai"

    @classmethod
    def create(cls, p: dict, data_dir: Path) -> "OpenAIAnnotator":
        return cls(p)

    def __init__(self, p: dict):
        self.p = p
        self.model = p["model"]
        self.version = prompt_version()
        self.refused: Exception | None = None  # the endpoint refused the key: no request after that

    async def _ask(self, client, sem, items: list[Item], spend: Spend
                   ) -> tuple[dict[int, Rating], dict[int, str], int, int, str | None]:
        """One request for ``items`` (with its re-asks): (valid ratings by index, item errors by
        index, tokens in, tokens out, the error every item failed with, or None). With one item,
        an item error is the answer's error and is asked again like one."""
        import openai

        body = request_body(self.p, items)
        messages = list(body.pop("messages"))
        # passed untyped: the client's recursive transform of the schema costs time on every request
        body["extra_body"] = {"response_format": body.pop("response_format")}
        n, samples = len(items), max(1, self.p["self_consistency"])
        tokens_in = tokens_out = 0
        err = "no answer"
        async with sem:
            for attempt in range(self.p["invalid_retries"] + 1):
                if self.refused:
                    raise self.refused
                spend.check()
                try:
                    spend.requests += 1
                    resp = await client.chat.completions.create(messages=messages, **body)
                except openai.APITimeoutError:
                    return {}, {}, tokens_in, tokens_out, "timeout: no answer within annotate.timeout_s after retries"
                except (openai.AuthenticationError, openai.PermissionDeniedError) as exc:
                    self.refused = exc  # every other request would be refused too: stop them all
                    raise
                except openai.RateLimitError as exc:
                    return {}, {}, tokens_in, tokens_out, redact(f"rate_limited: {exc.message}", 300)
                except openai.APIStatusError as exc:
                    return {}, {}, tokens_in, tokens_out, redact(f"http_{exc.status_code}: {exc.message}", 300)
                except openai.APIConnectionError as exc:
                    return {}, {}, tokens_in, tokens_out, redact(f"connection: {exc}", 300)
                except (json.JSONDecodeError, openai.APIResponseValidationError) as exc:  # unparseable body
                    content, err = None, redact(f"the response body is not valid JSON ({exc})", 300)
                else:
                    usage = resp.usage
                    if usage:
                        tokens_in += usage.prompt_tokens or 0
                        tokens_out += usage.completion_tokens or 0
                        spend.add(usage.prompt_tokens or 0, usage.completion_tokens or 0)
                    contents = [c.message.content for c in resp.choices or []]
                    content = contents[0] if contents else None
                    try:
                        if len(contents) < samples:
                            raise ValueError(f"{len(contents)} answers, {samples} asked for")
                        ok, bad = combine([parse_answer(c, n) for c in contents], n)
                        if n == 1 and bad:
                            raise ValueError(bad[0])
                        return ok, bad, tokens_in, tokens_out, None
                    except ValueError as exc:
                        err = str(exc)
                messages = messages + [{"role": "assistant", "content": content or ""},
                                       {"role": "user", "content": reask(err, n)}]
        return {}, {}, tokens_in, tokens_out, f"invalid_output: {err}"

    async def _request(self, client, sem, items: list[Item], keys: list[str], spend: Spend) -> list[Result]:
        """Results of one planned request, each bad item asked again alone."""
        ok, bad, t_in, t_out, failed = await self._ask(client, sem, items, spend)
        results = [Result(k, tokens_in=a, tokens_out=b)
                   for k, a, b in zip(keys, shares(t_in, len(keys)), shares(t_out, len(keys)))]
        for i, r in enumerate(results):
            if failed:
                r.error = failed
            elif i in ok:
                r.ratings, r.evidence = ok[i]
            else:
                r.error = f"invalid_output: {bad[i]}"

        async def alone(i: int) -> None:
            spend.retried_alone += 1
            ok1, _, a, b, failed1 = await self._ask(client, sem, [items[i]], spend)
            r = results[i]
            r.tokens_in, r.tokens_out = r.tokens_in + a, r.tokens_out + b
            if failed1:
                r.error = failed1
            else:
                r.ratings, r.evidence = ok1[0]
                r.error = None

        if len(items) > 1 and bad:
            await asyncio.gather(*(alone(i) for i in sorted(bad)))
        return results

    async def _run(self, items, keys, on_result, spend, show_progress):
        import openai

        client = openai.AsyncOpenAI(**client_kwargs(self.p))
        sem = asyncio.Semaphore(self.p["concurrency"])
        tasks = [asyncio.create_task(self._request(client, sem, [items[i] for i in g], [keys[i] for i in g], spend))
                 for g in plan_requests(items, self.p["items_per_request"])]
        bar = progress(total=len(items), enabled=show_progress, desc=f"annotate ({self.model})", unit="item")
        try:
            for fut in asyncio.as_completed(tasks):
                results = await fut
                on_result(results)
                bar.update(len(results))
        except BaseException:
            for t in tasks:
                t.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
            raise
        finally:
            bar.close()
            await client.close()

    def annotate(self, items, keys, on_result, spend, show_progress=True) -> None:
        asyncio.run(self._run(items, keys, on_result, spend, show_progress))
