"""Stage ``anonymize``: pseudonymous users and ids, personal data scrubbed from every text.

Config section ``[anonymize]``. Upstream: ``ingest_reddit``.

Shards: one per table file of ``ingest_reddit`` (each author bucket of ``threads`` and
``orphans``, ``submissions``, ``users``). For each row:

- ``author`` / ``post_author`` become ``u_<hmac>`` (keyed HMAC-SHA256 of the lower-cased
  name: Reddit names are unique regardless of case); ``id``, ``link_id``, ``parent_id``,
  ``chain_ids`` become ``c_<hmac>`` (comments) or ``p_<hmac>`` (posts).
- ``body``, ``post_title``, ``post_body`` (and ``title`` of submissions) are scrubbed by
  ``alignx.privacy.Scrubber``, and so is every text of the parent chain (``chain_texts``);
  ``prompt`` is rebuilt from the scrubbed post and chain (``alignx.threads.render_prompt``) and
  ``prompt_ids`` names its parts: the post's id, then the chain's comment ids, oldest first.
- ``author_fullname``, ``source_file`` and ``source_line`` are removed: with the dump they
  would lead back to the real record.

The map back (pseudonymous id -> real id, author, source file and line) is written only to
``data/private/anonymize/map/`` (git-ignored, never released); ``alignx provenance`` reads
it when present. Replacements are counted by kind in the manifest (``scrubbed.<kind>``).
"""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import polars as pl

from alignx.threads import render_prompt
from pipeline.config import Config
from pipeline.errors import UserError
from pipeline.io import write_parquet
from alignx.privacy import (
    KEY_ENV, ScrubRules, Scrubber, key_id, load_key, load_optout, opted_out_names, optout_id, pseudonym,
)
from alignx.privacy.forget import remove_quotes
from pipeline.stage import Shard, Stage, StageContext, Stats, keys

PRIVATE_MAP = Path("private") / "anonymize" / "map"
TEXT_COLUMNS = ("body", "title", "post_title", "post_body")
DROP_COLUMNS = ("author_fullname", "source_file", "source_line")


def scrub_rules(p: dict) -> ScrubRules:
    return ScrubRules(**{f: p[f] for f in ScrubRules.__dataclass_fields__})


def private_map_dir(data_dir: Path) -> Path:
    return data_dir / PRIVATE_MAP


class Anonymize(Stage):
    name = "anonymize"
    #: 2: parent chains and prompt_ids (issue 16), forgotten quotes and new scrub layers (issue 20)
    #: 3: quotes of forgotten people removed from the parent chain too
    #: 4: new scrub families (crypto, bank accounts, dates of birth, handles, national ids, addresses
    #: of more countries), author names however written; forgotten people's words in quotation marks
    version = "4"
    upstream = ("ingest_reddit",)
    uses = keys("anonymize", "key_file", "mentions", "author_names", "min_name_length", "ordinary_word_zipf",
                "mention_style", "person_names", "emails", "phones", "phone_region", "ips", "cards", "national_ids",
                "bank_accounts", "birth_dates", "crypto", "handles", "addresses", "profile_links",
                "profile_link_domain", "reddit_links", "other_links")
    unit = "records"
    description = "pseudonymize users and ids; scrub personal data from text"

    #: The public id of the key ``prepare`` found in the process that plans the run; a shard
    #: (which may run on another machine of a Ray cluster) checks that its key is that one.
    _key_id: str | None = None

    def _key(self, p: dict, data_dir: Path, create: bool = True) -> bytes | None:
        return load_key(data_dir / p["key_file"], create=create)

    def prepare(self, config: Config, data_dir: Path) -> None:
        self._key_id = key_id(self._key(config.section(self.section), data_dir))

    def _shard_key(self, p: dict, data_dir: Path) -> bytes:
        """The run's key where a shard runs. Once prepared, a worker never generates one: a Ray
        node started without the run's ``ALIGNX_PSEUDONYM_KEY`` would otherwise write a new key
        and give every user it sees other pseudonyms, silently."""
        if self._key_id is None:
            return self._key(p, data_dir)
        key = self._key(p, data_dir, create=False)
        if key is None or key_id(key) != self._key_id:
            import socket

            has = "no pseudonymization key" if key is None else f"another pseudonymization key (id {key_id(key)})"
            raise UserError(
                f"anonymize: the worker on {socket.gethostname()} has {has}, not the run's (id {self._key_id}): set "
                f"the same ${KEY_ENV} in every Ray node's environment before `ray start`, or unset it everywhere "
                f"and keep the key in {data_dir / p['key_file']} on the shared data dir")
        return key

    def fingerprint_extra(self, config: Config, data_dir: Path) -> dict[str, str]:
        key = self._key(config.section(self.section), data_dir, create=False)
        return {"key_id": key_id(key) if key else "no key yet", "optout": optout_id(data_dir)}

    def external_outputs(self, config: Config, data_dir: Path) -> list[Path]:
        return [private_map_dir(data_dir).parent]  # the map back to real ids, and the author names

    def shards(self, ctx: StageContext) -> list[Shard]:
        files = [f for f in ctx.upstream_files("ingest_reddit") if f.parent.name not in ("authors", "forgotten")]
        return [Shard(f"{f.parent.name}-{f.stem}", (str(f),), weight=f.stat().st_size) for f in files]

    def run_shard(self, ctx: StageContext, shard: Shard, out_dir: Path) -> Stats:
        p = ctx.params
        key = self._shard_key(p, ctx.data_dir)
        path = Path(shard.inputs[0])
        table = path.parent.name  # threads | orphans | submissions | users
        df = pl.read_parquet(path)
        names = pl.read_parquet(ctx.upstream_files("ingest_reddit", "authors")[0])["author"].to_list()
        # people who asked to be forgotten are scrubbed where others name them, even "bob"
        forced = opted_out_names(names, key, load_optout(ctx.data_dir))
        scrubber = Scrubber(names, scrub_rules(p), key, forced=forced)
        stats = Stats(records_in=df.height, records_out=df.height)

        def user(name: str | None) -> str | None:
            return None if name is None else pseudonym(key, "u", name.lower())

        columns: dict[str, list] = {}
        if "author" in df.columns:
            columns["author"] = [user(a) for a in df["author"]]
        if "post_author" in df.columns:
            columns["post_author"] = [user(a) for a in df["post_author"]]
        if "id" in df.columns:
            ns = "p" if table == "submissions" else "c"
            columns["id"] = [pseudonym(key, ns, i) for i in df["id"]]
            columns["link_id"] = [pseudonym(key, "p", i) for i in df["link_id"]]
            columns["parent_id"] = [
                "" if not par else pseudonym(key, "p" if top else "c", par)
                for par, top in zip(df["parent_id"], df["is_top_level"])
            ]
        if "chain_ids" in df.columns:  # the parent chain: comments
            columns["chain_ids"] = [[pseudonym(key, "c", i) for i in ids] for ids in df["chain_ids"]]
        if "subreddit" in df.columns:  # a user's profile subreddit, u_<name>, names the user
            columns["subreddit"] = [
                pseudonym(key, "u", s[2:].lower()) if s and s.lower().startswith("u_") else s for s in df["subreddit"]
            ]
        forgotten_files = ctx.upstream_files("ingest_reddit", "forgotten")
        forgotten = set(pl.read_parquet(forgotten_files[0])["ngram"].to_list()) if forgotten_files else set()
        scrubbed: Counter = Counter()
        for col in TEXT_COLUMNS:
            if col in df.columns:
                values = []
                for text in df[col]:
                    if forgotten:  # passages quoting a forgotten person go first
                        text, quotes = remove_quotes(text, forgotten, key)
                        stats.counts["forgotten_quotes"] += quotes
                    clean, counts = scrubber.scrub(text)
                    scrubbed.update(counts)
                    values.append(clean)
                columns[col] = values
        if "chain_texts" in df.columns:
            chains = []
            for texts in df["chain_texts"]:
                clean_chain = []
                for text in texts:
                    if forgotten:  # a forgotten person's words quoted up the chain go too
                        text, quotes = remove_quotes(text, forgotten, key)
                        stats.counts["forgotten_quotes"] += quotes
                    clean, counts = scrubber.scrub(text)
                    scrubbed.update(counts)
                    clean_chain.append(clean)
                chains.append(clean_chain)
            columns["chain_texts"] = chains
        out = df.with_columns(*(pl.Series(name, values, dtype=df.schema[name]) for name, values in columns.items()))
        if "prompt" in out.columns:  # rebuilt from the scrubbed post and chain; its parts named in prompt_ids
            # the limit the prompts were cut to upstream (its manifest: reading the whole
            # [ingest_reddit] section would make input paths part of this stage's fingerprint)
            max_chars = ctx.manifest("ingest_reddit")["config"]["prompt_max_chars"]
            out = out.with_columns(
                pl.Series("prompt", [render_prompt(t, b, c, max_chars) for t, b, c in
                                     out.select("post_title", "post_body", "chain_texts").iter_rows()], pl.String),
                pl.concat_list(pl.col("link_id"), pl.col("chain_ids")).alias("prompt_ids"),
            )
        out = out.drop([c for c in DROP_COLUMNS if c in out.columns])
        write_parquet(out, out_dir / table / path.name)
        stats.counts.update({f"scrubbed.{k}": v for k, v in scrubbed.items()})

        if "id" in df.columns:
            private = pl.DataFrame({
                "id": columns["id"], "real_id": df["id"], "kind": df["kind"],
                "author": columns["author"], "real_author": df["author"],
                "source_file": df["source_file"], "source_line": df["source_line"],
            })
            write_parquet(private, private_map_dir(ctx.data_dir) / f"{table}-{path.stem}.parquet")
        return stats

    def finish(self, ctx: StageContext, parts: list[Path], stats: Stats, out_dir: Path) -> Stats:
        # the private dictionary of real names, for `alignx audit-privacy`
        authors = pl.read_parquet(ctx.upstream_files("ingest_reddit", "authors")[0])
        write_parquet(authors, private_map_dir(ctx.data_dir).parent / "authors.parquet")
        return super().finish(ctx, parts, stats, out_dir)
