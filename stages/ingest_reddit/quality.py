"""Near-duplicate removal of stage ``ingest_reddit``: MinHash LSH over word shingles (datasketch's
MinHash permutations and MinHashLSH bands, as datatrove and NeMo Curator use them), vectorized,
keeping the earliest text of each cluster.

Reddit repeats itself: copypasta, bot-like templates, the same answer pasted into several
threads. Two texts whose word ``ngram``-shingle sets have an estimated Jaccard similarity of at
least ``threshold`` are near-duplicates; a text shorter than ``ngram`` words is one shingle
(so only its exact copies match).

Computed in bulk: words are found by polars, each distinct word is hashed once (sha1: the only
per-item Python), a shingle's hash folds its words' hashes as numpy array operations
(``shingle_hash`` is the reference: no shingle string is built), the ``num_perm`` permutations
(datasketch's, same seed and scheme) run over all shingles at once, and each LSH band (datasketch's
bands and rows) is reduced to one 64-bit key. datasketch itself hashes each shingle string with
sha1; that hash differs, so the estimated similarities of a pair differ by MinHash's sampling
noise and pairs near the threshold can fall the other way: on all 128,889 r/ethereum comments
98.6% of the texts either removes get the same decision and kept text from both (removed sets:
Jaccard 0.991; bench/results/ingest.json, tests/stages/test_ingest_reddit_bulk.py).
Only the band keys are kept (``8 x bands`` bytes per text), so texts are hashed a chunk at a
time where they are parsed (``MinHashIndex.keyed``) and the corpus is never held as text.
Identical texts are hashed once.
The sequential "is there an earlier kept text in one of my buckets" walk runs in Python only
over the texts that share a bucket with another text (a few percent of real comments).
"""

from __future__ import annotations

import functools
import hashlib
import re
import struct
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import polars as pl

#: Seed of the MinHash permutations: fixed, so the same corpus always gives the same clusters.
MINHASH_SEED = 1
#: Python's ``re`` ``\w`` (str.isalnum() or "_"), in the regex dialect of polars.
WORD = r"[\p{L}\p{N}_]+"
_MAX_HASH = np.uint64((1 << 32) - 1)
_M1 = np.uint64(0xBF58476D1CE4E5B9)
_M2 = np.uint64(0x94D049BB133111EB)
_GOLD = np.uint64(0x9E3779B97F4A7C15)
_U64 = struct.Struct("<Q")
#: Texts hashed per step: bounds the words, shingles and hashes alive at once (~30 MB).
TEXTS_PER_STEP = 8192


def _mix(x: np.ndarray) -> np.ndarray:
    """splitmix64's finalizer: a bijective scramble of uint64 values."""
    x = (x ^ (x >> np.uint64(30))) * _M1
    x = (x ^ (x >> np.uint64(27))) * _M2
    return x ^ (x >> np.uint64(31))


def shingles(text: str, ngram: int) -> set[bytes]:
    """Lower-cased word ``ngram``-grams of ``text`` (the whole text when it is shorter): the
    reference definition of the shingles that ``shingle_hashes`` hashes in bulk."""
    words = re.findall(r"\w+", text.lower())
    if len(words) < ngram:
        return {" ".join(words).encode()}
    return {" ".join(words[i:i + ngram]).encode() for i in range(len(words) - ngram + 1)}


def word_hashes(words: pl.Series) -> np.ndarray:
    """uint64 per word: the first 8 bytes (little-endian) of the sha1 of its UTF-8, computed
    once per distinct word (a chunk of comments holds ~15 distinct words per 100 words)."""
    distinct = words.unique()
    sha1, unpack = hashlib.sha1, _U64.unpack_from
    values = np.fromiter((unpack(sha1(w).digest())[0] for w in distinct.cast(pl.Binary).to_list()),
                         dtype=np.uint64, count=len(distinct))
    table = pl.DataFrame({"w": distinct, "h": pl.Series(values, dtype=pl.UInt64)})
    return pl.DataFrame({"w": words}).join(table, on="w", how="left", maintain_order="left")["h"].to_numpy()


def shingle_hash(words: list[str]) -> int:
    """The reference definition of a shingle's 32-bit hash (``shingle_hashes`` computes it in
    bulk): the words' ``word_hashes`` folded in order through splitmix64's finalizer from a
    fixed seed, low 32 bits. A shingle is ``ngram`` consecutive words, or all the words of a
    shorter text (none for an empty one)."""
    mask = (1 << 64) - 1
    h = int(_GOLD)
    for w in words:
        x = (h ^ _U64.unpack_from(hashlib.sha1(w.encode()).digest())[0]) & mask
        x = ((x ^ (x >> 30)) * int(_M1)) & mask
        x = ((x ^ (x >> 27)) * int(_M2)) & mask
        h = x ^ (x >> 31)
    return h & 0xFFFFFFFF


def shingle_hashes(texts: pl.Series, ngram: int) -> tuple[np.ndarray, np.ndarray]:
    """(hashes, owner): the 32-bit ``shingle_hash`` (uint64 array) of every word ``ngram``-shingle
    of each text (as ``shingles``; a text may repeat one, which changes no minimum) and the
    index of its text, grouped by text in order. No shingle string is ever built: each word is
    hashed once and the ``ngram`` hashes of a shingle are folded as numpy array operations."""
    words = texts.fill_null("").str.to_lowercase().str.extract_all(WORD)
    lengths = words.list.len().fill_null(0).to_numpy().astype(np.int64)
    flat = words.explode().drop_nulls()
    wh = word_hashes(flat) if len(flat) else np.zeros(0, dtype=np.uint64)
    starts = np.concatenate([[0], np.cumsum(lengths)[:-1]]).astype(np.int64)
    # long texts: a shingle starts at each word with ngram - 1 words after it in its text
    n_long = np.where(lengths >= ngram, lengths - ngram + 1, 0)
    owner_long = np.repeat(np.arange(len(texts), dtype=np.int64), n_long)
    first = np.arange(len(owner_long), dtype=np.int64) - np.repeat(np.cumsum(n_long) - n_long, n_long)
    at = first + starts[owner_long]  # flat index of each shingle's first word
    long_ = np.full(len(at), _GOLD, dtype=np.uint64)
    for j in range(ngram):
        long_ = _mix(long_ ^ wh[at + j])
    # short texts (fewer than ngram words, none included): all their words are one shingle
    short = np.flatnonzero(lengths < ngram)
    short_ = np.full(len(short), _GOLD, dtype=np.uint64)
    for j in range(ngram - 1):
        more = lengths[short] > j
        short_[more] = _mix(short_[more] ^ wh[starts[short[more]] + j])
    # grouped by text without sorting: a text's shingles start at the running count before it
    count = np.where(lengths >= ngram, n_long, 1)
    offset = np.cumsum(count) - count
    out = np.empty(int(count.sum()), dtype=np.uint64)
    out[offset[owner_long] + first] = long_
    out[offset[short]] = short_
    return out & _MAX_HASH, np.repeat(np.arange(len(texts), dtype=np.int64), count)


def _lsh_error(threshold: float, b: np.ndarray, r: np.ndarray) -> np.ndarray:
    """False-positive plus false-negative area of LSH with ``b`` bands of ``r`` rows (arrays),
    the quantity datasketch's ``MinHashLSH`` minimizes (weights 0.5 and 0.5), integrated by
    Gauss-Legendre quadrature: exact for these polynomials (degree <= b * r <= num_perm)."""
    x, w = np.polynomial.legendre.leggauss(int((b * r).max()) // 2 + 2)

    def integral(f, lo: float, hi: float) -> np.ndarray:
        s = (hi - lo) / 2 * x + (hi + lo) / 2
        return (hi - lo) / 2 * (f(s[:, None]) * w[:, None]).sum(axis=0)

    fp = integral(lambda s: 1 - (1 - s ** r) ** b, 0.0, threshold)
    fn = integral(lambda s: (1 - s ** r) ** b, threshold, 1.0)
    return 0.5 * fp + 0.5 * fn


@functools.lru_cache(maxsize=None)
def lsh_params(threshold: float, num_perm: int) -> tuple[int, int]:
    """(bands, rows per band) as datasketch's ``MinHashLSH`` picks them: the split of
    ``num_perm`` with the least error (the first in (b, r) order among equals). Computed here,
    not by importing datasketch (which imports scipy: 0.8 s of CPU in every worker process)."""
    splits = [(b, r) for b in range(1, num_perm + 1) for r in range(1, num_perm // b + 1)]
    b, r = (np.array(v, dtype=np.float64) for v in zip(*splits))
    best = int(np.argmin(_lsh_error(threshold, b, r)))
    return splits[best]


def _fmix32(h: np.ndarray) -> np.ndarray:
    """MurmurHash3's 32-bit finalizer, the pre-mix of datasketch's "affine32" scheme."""
    h = h ^ (h >> np.uint32(16))
    h = h * np.uint32(0x85EBCA6B)
    h = h ^ (h >> np.uint32(13))
    h = h * np.uint32(0xC2B2AE35)
    return h ^ (h >> np.uint32(16))


def permutations(num_perm: int, seed: int = MINHASH_SEED) -> tuple[np.ndarray, np.ndarray]:
    """(a, b): uint32 arrays of ``num_perm`` affine permutations ``a * h + b mod 2**32`` (``a``
    odd), drawn as datasketch (>= 2.0, "affine32" scheme) draws them for ``MinHash(seed=seed)``."""
    gen = np.random.RandomState(seed)
    a = gen.randint(0, 1 << 31, num_perm, dtype=np.uint32) * np.uint32(2) + np.uint32(1)
    b = gen.randint(0, 1 << 32, num_perm, dtype=np.uint32)
    return a, b


class MinHashIndex:
    """Band keys of texts added batch by batch; ``resolve`` finds the near-duplicates.

    Memory: id, created_utc and ``bands`` uint64 keys per text (about 100 bytes), never the texts.
    """

    def __init__(self, threshold: float, num_perm: int, ngram: int):
        self.bands, self.rows = lsh_params(threshold, num_perm)
        self.ngram = ngram
        self.a, self.b = permutations(num_perm)
        self.columns = [f"k{j}" for j in range(self.bands)]
        self.schema = {"id": pl.String, "created_utc": pl.Int64} | {c: pl.UInt64 for c in self.columns}

    def band_keys(self, texts: pl.Series) -> np.ndarray:
        """(len(texts), bands) uint64: each band's ``rows`` min-hashes folded into one key.
        Bands are split over two threads (numpy releases the GIL in its loops)."""
        hashes, owner = shingle_hashes(texts, self.ngram)
        h = _fmix32(hashes.astype(np.uint32))
        del hashes
        keys = np.zeros((len(texts), self.bands), dtype=np.uint64)
        if not len(texts):
            return keys
        bounds = np.flatnonzero(np.r_[True, owner[1:] != owner[:-1]])

        def bands(which: range) -> None:
            buf = np.empty_like(h)
            for band in which:
                key = np.full(len(texts), np.uint64(band), dtype=np.uint64)
                for r in range(band * self.rows, (band + 1) * self.rows):
                    np.multiply(h, self.a[r], out=buf)  # wraps modulo 2**32, as datasketch's arrays do
                    np.add(buf, self.b[r], out=buf)
                    key = _mix(key ^ np.minimum.reduceat(buf, bounds).astype(np.uint64)) * _GOLD
                keys[:, band] = key

        half = (self.bands + 1) // 2
        with ThreadPoolExecutor(2) as pool:
            list(pool.map(bands, (range(half), range(half, self.bands))))
        return keys

    def keyed(self, items: pl.DataFrame) -> pl.DataFrame:
        """``items`` (id, text, created_utc) -> id, created_utc, k0..k{bands-1}: the band keys that
        ``resolve`` reads (any number of such frames, concatenated in order). Identical texts
        are hashed once."""
        items = items.select("id", "text", "created_utc")
        if not items.height:
            return pl.DataFrame(schema=self.schema)
        first = items.select(pl.col("text").is_first_distinct())["text"]
        unique = items.filter(first)
        # a few thousand texts at a time: their words and shingles are the bulk of the memory
        keys = np.concatenate([self.band_keys(unique["text"].slice(i, TEXTS_PER_STEP))
                               for i in range(0, unique.height, TEXTS_PER_STEP)])
        frame = unique.select("text").with_columns(
            *(pl.Series(c, keys[:, j], dtype=pl.UInt64) for j, c in enumerate(self.columns)))
        return items.join(frame, on="text", how="left", maintain_order="left", nulls_equal=True).drop("text")

    def resolve(self, keyed: pl.DataFrame) -> pl.DataFrame:
        """id, kept_id of every text that repeats an earlier one (oldest first, ties by id; the
        first row of an id counts): a text is removed when an earlier kept text shares one of
        its LSH buckets, and joins the cluster of the earliest such text; otherwise it is kept
        (and indexed), as datasketch's ``MinHashLSH`` query-then-insert gives."""
        cols = self.columns
        keyed = keyed.unique(subset="id", keep="first", maintain_order=True).sort("created_utc", "id")
        # a text sharing no bucket with any other is kept and collides with nothing: skip it
        cand = keyed.filter(pl.any_horizontal(pl.col(c).is_duplicated() for c in cols))
        firsts: list[dict] = [{} for _ in cols]  # per band: key -> earliest kept (rank, id)
        removed, kept_by = [], []
        rank = 0
        for row in cand.select("id", *cols).iter_rows():
            i, keys = row[0], row[1:]
            hits = [f[k] for f, k in zip(firsts, keys) if k in f]
            if hits:
                removed.append(i)
                kept_by.append(min(hits)[1])
            else:
                for f, k in zip(firsts, keys):
                    f[k] = (rank, i)
                rank += 1
        return pl.DataFrame({"id": removed, "kept_id": kept_by}, schema={"id": pl.String, "kept_id": pl.String})


def near_duplicates(items: pl.DataFrame, threshold: float, num_perm: int, ngram: int) -> pl.DataFrame:
    """Which texts repeat an earlier one.

    ``items``: id, text, created_utc (seconds). Texts are visited oldest first (ties by id);
    each is kept unless an earlier kept text shares an LSH bucket with it, in which case it
    joins the cluster of the earliest such text. Returns id, kept_id for every removed text
    (``kept_id`` = the cluster's earliest text).
    """
    index = MinHashIndex(threshold, num_perm, ngram)
    return index.resolve(index.keyed(items))


# --- Templated posts ---------------------------------------------------------------------------
# Recurring threads (auto-posted daily or weekly discussions) repeat one boilerplate body: rules,
# links, an event calendar. As a prompt it says nothing about what a comment answers, so
# ``ingest_reddit`` builds the prompts of their comments from the title alone.

#: LSH threshold (estimated Jaccard of word 5-shingle sets) for two post bodies to be one template.
#: Measured on the real corpora: each of the 605 r/ethereum daily threads' bodies has another at
#: >= 0.80 (its template drifts over 20 months and the calendar changes daily), while no two of
#: the 63 r/changemyview posts exceed 0.35 (they share the moderators' footnote): 0.5 is far from both.
TEMPLATE_THRESHOLD = 0.5
TEMPLATE_NGRAM = 5
TEMPLATE_NUM_PERM = 128


def templated_posts(posts: pl.DataFrame, min_posts: int) -> pl.Series:
    """Ids (str) of the posts whose body is a template: a MinHash LSH cluster (``MinHashIndex``
    at ``TEMPLATE_THRESHOLD``) of at least ``min_posts`` near-identical bodies in one subreddit
    (case-insensitive). ``posts``: id, subreddit, body, created_utc (seconds). Empty or
    whitespace bodies (link posts, removed bodies) never count; ``min_posts`` 0 finds none.

    Clusters are formed as ``MinHashIndex.resolve`` forms them (oldest first; a body joins the
    cluster of the earliest kept body it shares an LSH bucket with), so a template that drifts
    over the years gives a few large clusters, every one of them templated.
    """
    with_body = posts.filter(pl.col("body").fill_null("").str.contains(r"[^\s\x1c-\x1f]"))
    if not min_posts or with_body.height < min_posts:
        return pl.Series("id", [], pl.String)
    index = MinHashIndex(TEMPLATE_THRESHOLD, TEMPLATE_NUM_PERM, TEMPLATE_NGRAM)
    keyed = index.keyed(with_body.select("id", pl.col("body").alias("text"), "created_utc"))
    # bodies of different subreddits never share a bucket: each band key is salted with a
    # 64-bit hash of the subreddit (keyed keeps the rows' order)
    subs = with_body["subreddit"].fill_null("").str.to_lowercase()
    names = subs.unique()
    salt = pl.Series([int.from_bytes(hashlib.blake2b(s.encode(), digest_size=8).digest(), "little")
                      for s in names.to_list()], dtype=pl.UInt64)
    salts = subs.replace_strict(names, salt, return_dtype=pl.UInt64)
    keyed = keyed.with_columns(pl.col(c).xor(salts) for c in index.columns)
    dups = index.resolve(keyed)
    cluster = (with_body.select("id").join(dups, on="id", how="left", maintain_order="left")
               .select("id", pl.coalesce("kept_id", "id").alias("cluster")))
    return cluster.filter(pl.len().over("cluster") >= min_posts)["id"]


#: Words that vary between the posts of a dated or numbered series ("Daily General Discussion -
#: March 02, 2025", "Weekly thread #41"): month and weekday names (and their 3-letter forms), digit
#: runs with their ordinal suffix. ``series_title`` replaces them; what stays names the series.
SERIES_WORDS = (
    r"(?i)\b(?:january|february|march|april|may|june|july|august|september|october|november|december"
    r"|jan|feb|mar|apr|jun|jul|aug|sept?|oct|nov|dec"
    r"|monday|tuesday|wednesday|thursday|friday|saturday|sunday|mon|tue|tues|wed|thu|thur|thurs|fri|sat|sun)\b"
)


def series_title(titles: pl.Expr) -> pl.Expr:
    """A title with its dates and numbers replaced, lower-cased, punctuation and spaces collapsed to
    one space: the name of the series a dated or numbered post belongs to ("Daily General
    Discussion - March 02, 2025" and "Daily General Discussion March 2 2025" are both "daily
    general discussion <d> # #")."""
    return (titles.fill_null("").str.to_lowercase()
            .str.replace_all(r"\d+(?:st|nd|rd|th)?", "#")
            .str.replace_all(SERIES_WORDS, "<d>")
            .str.replace_all(r"[^\w<>#]+", " ").str.strip_chars())


def recurring_titles(posts: pl.DataFrame, min_posts: int) -> pl.Series:
    """Ids (str) of the posts of a dated or numbered series: a title holding a digit whose
    ``series_title`` at least ``min_posts`` posts of one subreddit (case-insensitive) share, as
    auto-posted daily and weekly threads have ("Daily General Discussion - March 02, 2025").
    ``posts``: id, subreddit, title. A title without a digit never counts (posts titled
    "Help" ask different questions in their bodies); ``min_posts`` 0 finds none."""
    if not min_posts:
        return pl.Series("id", [], pl.String)
    dated = posts.filter(pl.col("title").fill_null("").str.contains(r"\d"))
    keyed = dated.select("id", pl.col("subreddit").fill_null("").str.to_lowercase().alias("_sub"),
                         series_title(pl.col("title")).alias("_series"))
    return keyed.filter(pl.len().over("_sub", "_series") >= min_posts)["id"]


# --- Language identification ------------------------------------------------------------------
# Two detectors answer "is this comment English?" for the ``non_english`` rule; bench/language_id.py
# measures both on a hand-labelled sample of real comments (data/validation/language_id.jsonl) and
# ``ingest_reddit.language_id`` picks one (the default is the better of the two there).

#: Function words for the hand-written test: a text of 8+ words without any of them is not English.
ENGLISH_WORDS = (
    "the|and|is|are|was|to|of|a|an|i|you|it|that|this|in|on|for|with|be|not|have|has|but|my|"
    "your|just|so|if|or|what|they|we|he|she|do|don't|can|at|as|me|no|yes|all|like"
)

#: Languages lingua chooses among: English and those a Reddit dump of English-speaking communities
#: actually holds (found by reading the sample) plus the most spoken others. A small set is faster
#: and, on short informal text, far less prone to calling English slang Yoruba or Maori.
LINGUA_LANGUAGES = (
    "ENGLISH", "GERMAN", "FRENCH", "SPANISH", "PORTUGUESE", "ITALIAN", "DUTCH", "DANISH", "SWEDISH",
    "POLISH", "TURKISH", "RUSSIAN", "UKRAINIAN", "GREEK", "ARABIC", "HINDI", "CHINESE", "JAPANESE",
    "KOREAN", "VIETNAMESE", "INDONESIAN", "LATIN",
)
#: Links, markdown link targets, user and subreddit mentions: no language evidence, and lingua
#: reads URL slugs as Welsh or Sotho.
NOT_PROSE = r"\(?https?://\S+|\bwww\.\S+|\b[ru]/\w+|&\w+;"
#: Fewer words than this (after dropping NOT_PROSE; CJK characters count one each) is too little
#: evidence: the text is kept.
MIN_WORDS = 4
#: The plain-English shortcut (``lingua_english``): a text with no letter outside A-Z (emoji,
#: curly quotes and other symbols allowed) is English without asking lingua when its words are
#: at least ENGLISH_WORD_SHARE function words (ENGLISH_WORDS) or at least ENGLISH_VOCABULARY_SHARE
#: words of ``english_words.txt`` (scripts/make_english_words.py: frequent English words at least
#: 3 times as frequent in English as in any of 22 other Latin-script languages). No non-English
#: comment of the labelled sample passes either test (the highest shares: 0.2 function words,
#: "por que no los dos"; 0.11 vocabulary, a French comment with accents, which the script test
#: stops anyway); on the r/ethereum dump the shortcut leaves lingua 1 text in 27 (4,189 of
#: 111,544), and of the 272 texts lingua alone drops there it keeps 87, all English on reading.
ENGLISH_WORD_SHARE = 0.25
ENGLISH_VOCABULARY_SHARE = 0.5
PROSE_WORD = r"[^\W\d_]{2,}"
CJK = r"[\p{Han}\p{Hiragana}\p{Katakana}\p{Hangul}]"


@functools.lru_cache(maxsize=1)
def english_vocabulary() -> pl.Series:
    """The words of ``english_words.txt`` (lower case, shipped with the stage)."""
    lines = (Path(__file__).parent / "english_words.txt").read_text().splitlines()
    return pl.Series([w for w in lines if w and not w.startswith("#")], dtype=pl.String)


def plain_english(prose: pl.Series, words: pl.Series) -> pl.Series:
    """The plain-English shortcut (bool per text): ``prose`` (texts with links and mentions
    removed) has no letter outside A-Z and enough English words (ENGLISH_WORD_SHARE function
    words or ENGLISH_VOCABULARY_SHARE vocabulary words of its ``words`` PROSE_WORD words).
    The vocabulary is counted only in the texts the function words leave undecided."""
    frame = pl.DataFrame({"t": prose})
    latin = frame.select(~pl.col("t").str.contains(r"[\p{L}&&[^A-Za-z]]"))["t"]
    function = frame.select(pl.col("t").str.count_matches(rf"(?i-u:\b(?:{ENGLISH_WORDS})\b)"))["t"]
    plain = latin & (function >= ENGLISH_WORD_SHARE * words)
    rest = (latin & ~plain).arg_true()
    if len(rest):
        vocabulary = english_vocabulary().implode()
        known = (prose.gather(rest).to_frame("t").select(pl.col("t").str.to_lowercase().str.extract_all(PROSE_WORD)
                                    .list.eval(pl.element().is_in(vocabulary)).list.sum())["t"])
        plain = plain.scatter(rest, known >= ENGLISH_VOCABULARY_SHARE * words.gather(rest))
    return plain


def heuristic_english(text: pl.Series) -> pl.Series:
    """Hand-written test (bool per text): >= 90% of letters are ASCII, and texts of 8+ words
    contain one of ``ENGLISH_WORDS``. Catches other scripts and most non-English Latin-script
    text; shorter texts pass on the script test alone (too little evidence either way).

    Letters are counted only in the few texts that hold any non-ASCII letter; ASCII word
    boundaries keep the function-word scan fast.
    """
    frame = pl.DataFrame({"t": text})
    non_ascii = frame.select(pl.col("t").str.count_matches(r"[\p{L}&&[^A-Za-z]]"))["t"]
    script_ok = non_ascii == 0
    mixed = non_ascii > 0
    if mixed.any():
        sub = frame.filter(mixed).select(pl.col("t").str.count_matches(r"[A-Za-z]"))["t"]
        ok = sub >= 9 * non_ascii.filter(mixed)  # ascii >= 0.9 * (ascii + non-ascii)
        script_ok = script_ok.scatter(mixed.arg_true(), ok)
    long_ = frame.select(pl.col("t").str.contains(r"^\s*(?:\S+\s+){7}\S"))["t"]
    function_word = frame.select(pl.col("t").str.contains(rf"(?i-u:\b(?:{ENGLISH_WORDS})\b)"))["t"]
    return (script_ok & (~long_ | function_word)).fill_null(True)


_DETECTORS: dict[tuple, object] = {}


def lingua_detector(languages: tuple[str, ...] | None = LINGUA_LANGUAGES, low_accuracy: bool = True):
    """A lingua detector (built once per process; its models ship in the wheel, no network).
    ``languages=None``: all 75 languages lingua knows."""
    key = (languages, low_accuracy)
    if key not in _DETECTORS:
        from lingua import Language, LanguageDetectorBuilder

        builder = (LanguageDetectorBuilder.from_all_languages() if languages is None
                   else LanguageDetectorBuilder.from_languages(*(getattr(Language, n) for n in languages)))
        if low_accuracy:
            builder = builder.with_low_accuracy_mode()
        _DETECTORS[key] = builder.build()
    return _DETECTORS[key]


def lingua_english(text: pl.Series, languages: tuple[str, ...] | None = LINGUA_LANGUAGES,
                   low_accuracy: bool = False, shortcut: bool = True, screen: bool = True) -> pl.Series:
    """lingua's answer (bool per text): English, or too little prose to tell (fewer than
    ``MIN_WORDS`` words once links and mentions are removed), or no language detected.
    ``shortcut``: a text that ``plain_english`` finds English is not given to lingua.
    ``screen`` (high accuracy only): lingua's low-accuracy mode (trigrams: a quarter of the
    CPU) reads every text first, and only those it calls non-English are read again in
    high-accuracy mode, which decides. A text is dropped only when both modes call it
    non-English: on r/ethereum that keeps 38 English comments high accuracy alone drops
    ("Ethereum is dead. Long live Ethereum!") at a third of the CPU, and changes nothing on the
    labelled sample."""
    from lingua import Language

    frame = pl.DataFrame({"t": text}).select(pl.col("t").fill_null("").str.replace_all(NOT_PROSE, " "))
    words = frame.select(pl.col("t").str.count_matches(PROSE_WORD))["t"]
    cjk = frame.select(pl.col("t").str.count_matches(CJK))["t"]
    ask = (words >= MIN_WORDS) | (cjk >= MIN_WORDS)
    idx = ask.arg_true()
    if shortcut:
        idx = idx.filter(~plain_english(frame["t"].gather(idx), words.gather(idx)))
    def english(detector, at: pl.Series) -> pl.Series:
        detected = detector.detect_languages_in_parallel_of(frame["t"].gather(at).to_list())
        return pl.Series([d is None or d == Language.ENGLISH for d in detected], dtype=pl.Boolean)

    if screen and not low_accuracy:
        idx = idx.filter(~english(lingua_detector(languages, True), idx))
    result = pl.Series("english", [True] * len(text), pl.Boolean)
    return result.scatter(idx, english(lingua_detector(languages, low_accuracy), idx)) if len(idx) else result


def is_english(text: pl.Series, method: str = "heuristic") -> pl.Series:
    """The ``non_english`` rule's test (``ingest_reddit.language_id``): bool per text."""
    if method == "lingua":
        return lingua_english(text)
    return heuristic_english(text)


def datasketch_near_duplicates(items: pl.DataFrame, threshold: float, num_perm: int, ngram: int,
                               hashfunc=None) -> pl.DataFrame:
    """The reference ``near_duplicates`` is measured against (tests and bench/ingest.py, not the
    stage): datasketch one text at a time, oldest first, query, then insert when nothing hits.
    ``hashfunc=None``: datasketch's default shingle hash (sha1 of the shingle). Columns id, kept_id."""
    from datasketch import MinHash, MinHashLSH

    lsh = MinHashLSH(threshold=threshold, num_perm=num_perm)
    removed, kept_by, position = [], [], {}
    ordered = items.sort("created_utc", "id")
    extra = {"hashfunc": hashfunc} if hashfunc else {}
    hashes = MinHash.bulk([shingles(t or "", ngram) for t in ordered["text"]], num_perm=num_perm, seed=1, **extra)
    for i, m in zip(ordered["id"], hashes):
        hits = lsh.query(m)
        if hits:
            removed.append(i)
            kept_by.append(min(hits, key=position.__getitem__))
        else:
            lsh.insert(i, m)
            position[i] = len(position)
    return pl.DataFrame({"id": removed, "kept_id": kept_by}, schema={"id": pl.String, "kept_id": pl.String})
