"""Backend ``openai``: any OpenAI-compatible chat endpoint with strict structured output."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

from alignx.llm import client_kwargs
from pipeline.logs import progress
from pipeline.secrets import redact
from annotators.ratings import (RATINGS_SCHEMA, Item, Result, Spend, agree, prompt_version, render_prompt,
                                     validate_ratings)


def request_body(p: dict, item: Item) -> dict:
    return {
        "model": p["model"],
        "messages": [
            {"role": "system", "content": "You annotate preference dimensions. Answer only with the JSON object."},
            {"role": "user", "content": render_prompt(item.post, item.response)},
        ],
        "temperature": p["temperature"],
        "seed": p["sampling_seed"],
        "max_tokens": p["max_output_tokens"],
        # self-consistency: n samples in one request; only what a majority agrees on is kept
        **({"n": p["self_consistency"]} if p["self_consistency"] > 1 else {}),
        "response_format": {"type": "json_schema",
                            "json_schema": {"name": "ratings", "strict": True, "schema": RATINGS_SCHEMA}},
    }


def parse_answer(content: str | None) -> tuple[list[int], list[int]]:
    """(ratings, evidence) from one answer's text; ValueError says what is wrong."""
    if not content:
        raise ValueError("empty answer")
    try:
        obj = json.loads(content)
    except json.JSONDecodeError as exc:
        raise ValueError(f"not valid JSON ({exc.msg} at char {exc.pos})") from None
    return validate_ratings(obj)


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
    """Chat completions with strict structured output, bounded concurrency, retries.

    Transport errors (429 honouring Retry-After, 5xx, timeouts, connection errors) are retried
    by the openai client with exponential backoff and jitter (``max_retries``). An answer that
    is not valid JSON or breaks the schema is asked again with the error shown to the model,
    up to ``invalid_retries`` times; then the item is recorded as failed with the reason.
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

    async def _one(self, client, sem, item: Item, key: str, spend: Spend) -> Result:
        import openai

        body = request_body(self.p, item)
        messages = list(body.pop("messages"))
        # passed untyped: the client's recursive transform of a 90-property schema costs ~1.5 ms a request
        body["extra_body"] = {"response_format": body.pop("response_format")}
        result = Result(key)
        async with sem:
            for attempt in range(self.p["invalid_retries"] + 1):
                if self.refused:
                    raise self.refused
                spend.check()
                try:
                    spend.requests += 1
                    resp = await client.chat.completions.create(messages=messages, **body)
                except openai.APITimeoutError:
                    result.error = "timeout: no answer within annotate.timeout_s after retries"
                    return result
                except (openai.AuthenticationError, openai.PermissionDeniedError) as exc:
                    self.refused = exc  # every other request would be refused too: stop them all
                    raise
                except openai.RateLimitError as exc:
                    result.error = redact(f"rate_limited: {exc.message}", 300)
                    return result
                except openai.APIStatusError as exc:
                    result.error = redact(f"http_{exc.status_code}: {exc.message}", 300)
                    return result
                except openai.APIConnectionError as exc:
                    result.error = redact(f"connection: {exc}", 300)
                    return result
                except (json.JSONDecodeError, openai.APIResponseValidationError) as exc:  # unparseable body
                    content, err = None, redact(f"the response body is not valid JSON ({exc})", 300)
                else:
                    usage = resp.usage
                    if usage:
                        result.tokens_in += usage.prompt_tokens or 0
                        result.tokens_out += usage.completion_tokens or 0
                        spend.add(usage.prompt_tokens or 0, usage.completion_tokens or 0)
                    contents = [c.message.content for c in resp.choices or []]
                    content = contents[0] if contents else None
                    try:
                        if len(contents) < max(1, self.p["self_consistency"]):
                            raise ValueError(f"{len(contents)} answers, {self.p['self_consistency']} asked for")
                        samples = [parse_answer(c) for c in contents]
                        result.ratings, result.evidence = samples[0] if len(samples) == 1 else agree(samples)
                        result.error = None
                        return result
                    except ValueError as exc:
                        err = str(exc)
                result.error = f"invalid_output: {err}"
                messages = messages + [
                    {"role": "assistant", "content": content or ""},
                    {"role": "user", "content": f"That answer was invalid: {err}. Answer again with only the JSON "
                                                f"object {{\"ratings\": [...]}}: keys d00..d89, intensity "
                                                f"-2, -1, 1 or 2, evidence \"weak\" or \"strong\"."},
                ]
        return result

    async def _run(self, items, keys, on_result, spend, show_progress):
        import openai

        client = openai.AsyncOpenAI(**client_kwargs(self.p))
        sem = asyncio.Semaphore(self.p["concurrency"])
        tasks = [asyncio.create_task(self._one(client, sem, it, k, spend)) for it, k in zip(items, keys)]
        bar = progress(total=len(tasks), enabled=show_progress, desc=f"annotate ({self.model})", unit="item")
        try:
            for fut in asyncio.as_completed(tasks):
                result = await fut
                on_result([result])
                bar.update(1)
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
