"""Reddit thread structure shared by ingest_reddit (parent chains) and anonymize (prompts).

A comment answers its parent: the post (top-level comments) or another comment (replies). Its
prompt is the post (body, then title, as AlignX builds prompts; the title alone when the body is
empty or was removed) followed by the parent chain, oldest first, each comment after a
delimiter line, cut from the oldest end to a maximum length so the text the comment answers
(the parent) always survives.
"""

from __future__ import annotations

import polars as pl

#: Line that opens each comment of the parent chain in a prompt (oldest first).
CHAIN_DELIMITER = "\n\n--- comment in the thread ---\n"
#: Marks a prompt whose oldest part was cut.
TRUNCATION_MARK = "[...] "


def post_text(title: str, body: str) -> str:
    """The post as AlignX renders it: body then title; the title alone when there is no body."""
    return title if not (body or "").strip() else f"{body}\n\n{title}"


def render_prompt(title: str, body: str, chain: list[str] | None, max_chars: int) -> str:
    """Post plus parent chain (``chain`` oldest first, the parent last), at most ``max_chars``
    characters (0 = no limit): when longer, characters are cut from the start (the oldest
    end: the post body first) and the prompt opens with ``TRUNCATION_MARK``."""
    text = post_text(title, body) + "".join(CHAIN_DELIMITER + c for c in (chain or []))
    if max_chars and len(text) > max_chars:
        keep = max(max_chars - len(TRUNCATION_MARK), 0)
        text = TRUNCATION_MARK + text[len(text) - keep:]
    return text


def reachable_replies(comments: pl.DataFrame) -> pl.Series:
    """Which comments are linked to their post through comments in ``comments``.

    ``comments``: id, parent_id, is_top_level (one thread's or many threads' kept comments).
    Top-level comments are linked; a reply is linked when its parent is a linked comment, so a
    reply under a dropped or missing comment is unlinked, and so is everything below it.
    Returns a boolean Series aligned with ``comments``. Cost: one pass per tree level.
    """
    ok = comments["is_top_level"].fill_null(False)
    while True:
        linked = comments.filter(ok)["id"].implode()
        grown = ok | comments.select(pl.col("parent_id").is_in(linked))["parent_id"]
        if grown.sum() == ok.sum():
            return ok
        ok = grown


def parent_chains(comments: pl.DataFrame, depth: int) -> pl.DataFrame:
    """The parent chain of every comment, up to ``depth`` ancestors (0 = none).

    ``comments``: id, parent_id, is_top_level, body of linked comments (``reachable_replies``).
    Returns id, chain_ids, chain_texts: the ancestors' ids and bodies, oldest first (the
    parent last); empty lists for top-level comments.
    """
    by_id = {i: (par, top, body) for i, par, top, body in
             comments.select("id", "parent_id", "is_top_level", "body").iter_rows()}
    ids, texts = [], []
    for i, par, top in comments.select("id", "parent_id", "is_top_level").iter_rows():
        chain_ids, chain_texts = [], []
        while not top and len(chain_ids) < depth and par in by_id:
            chain_ids.append(par)
            par, top, body = by_id[par]
            chain_texts.append(body)
        ids.append(chain_ids[::-1])
        texts.append(chain_texts[::-1])
    return pl.DataFrame({"id": comments["id"], "chain_ids": ids, "chain_texts": texts},
                        schema={"id": pl.String, "chain_ids": pl.List(pl.String), "chain_texts": pl.List(pl.String)})
