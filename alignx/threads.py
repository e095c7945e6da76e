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


def ancestor_ids(comments: pl.DataFrame, depth: int) -> pl.DataFrame:
    """``parent_chains``' walk, vectorized: id, a1..a{depth} (the parent, the grandparent...).

    ``comments``: id, parent_id, is_top_level of linked comments (unique ids). ``a{k}`` is null
    past the end of the chain (a top-level ancestor reached, or a parent not in ``comments``).
    Cost: one join per level.
    """
    node = comments.select("id", "parent_id", "is_top_level")
    known = comments["id"].implode()
    out = node.select("id", pl.when(~pl.col("is_top_level") & pl.col("parent_id").is_in(known))
                      .then(pl.col("parent_id")).alias("a1"))
    for k in range(2, depth + 1):
        up = node.rename({"id": f"a{k - 1}", "parent_id": "_p", "is_top_level": "_t"})
        out = (out.join(up, on=f"a{k - 1}", how="left", maintain_order="left")
               .with_columns(pl.when(~pl.col("_t") & pl.col("_p").is_in(known)).then(pl.col("_p")).alias(f"a{k}"))
               .drop("_p", "_t"))
    return out if depth else out.select("id")


def prompt_expr(title: str, body: str, chain: list[str], max_chars: int) -> pl.Expr:
    """``render_prompt`` as a polars expression over columns: ``title``, ``body`` (the post's)
    and ``chain``: columns of the chain's texts oldest first, null where the chain is shorter."""
    # Python's str.strip() also strips \x1c-\x1f (str.isspace); regex \s does not
    empty = pl.col(body).fill_null("").str.contains(r"^[\s\x1c-\x1f]*$")
    post = pl.when(empty).then(pl.col(title)).otherwise(pl.col(body) + "\n\n" + pl.col(title))
    parts = [pl.when(pl.col(c).is_not_null()).then(pl.lit(CHAIN_DELIMITER) + pl.col(c)).otherwise(pl.lit(""))
             for c in chain]
    text = pl.concat_str([post, *parts]) if parts else post
    if not max_chars:
        return text
    keep = max(max_chars - len(TRUNCATION_MARK), 0)
    return pl.when(text.str.len_chars() > max_chars).then(pl.lit(TRUNCATION_MARK) + text.str.tail(keep)).otherwise(text)
