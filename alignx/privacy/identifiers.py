"""Identifiers that name one person or one account, found in text for the scrubber.

Each ``find_*`` function takes the text, its lower-cased copy and its lower-cased words (the
scrubber computes them once) and returns ``[(start, end, kind), ...]``. Each starts with a cheap
test (a substring, a word, a long enough token) so that the texts without a candidate, most of
them, cost almost nothing. Kinds:

- ``crypto_address``: wallet addresses of many chains, validated where the format has a checksum:
  EVM ``0x`` + 40 hex (and 64-hex transaction hashes, which lead to the wallet; shortened
  ``0x12ab…9f3c`` forms too), Base58Check (Bitcoin legacy/P2SH, Litecoin, Dogecoin, Dash, Tron,
  Tezos, Zcash; XRP with Ripple's alphabet; the ``base58`` package), Bech32/Bech32m with any
  prefix (``bc1``, ``ltc1``, ``cosmos1``, ``osmo1``, Cardano ``addr1``, Lightning invoices; the
  ``bech32`` package's checksum), Solana (Base58 of 32 bytes), Polkadot/Kusama (SS58 checksum),
  Monero, Stellar and Algorand (Base32), Nano, Bitcoin Cash ``bitcoincash:q...``;
- ``crypto_name``: names of a name service that resolve to a wallet (``name.eth``,
  ``name.crypto``, ``name.lens`` ...);
- ``bank_account``: IBANs, spaced or compact, validated by python-stdnum; account, routing and
  sort-code numbers after such a word;
- ``card``: payment card numbers with spaces, dashes or dots between groups or none, Luhn-valid
  and starting as issued cards do (2-6);
- ``date_of_birth``: a date after "born", "DOB", "date of birth", "birthday" (in several
  languages), in any common format ("14 March 1987", "March 14th, 1987", "1987-03-14",
  "03/14/1987", "14.03.87", a day and month without a year after "birthday");
- ``national_id``: US SSNs and ITINs, and national numbers whose shape and checksum python-stdnum
  validates without context (Brazilian CPF, Indian Aadhaar and PAN, Spanish DNI/NIE, Italian
  codice fiscale, Canadian SIN, Swedish/Danish/Finnish/Norwegian/Polish/Korean/Chinese/South
  African/Mexican/Chilean/Swiss/Belgian/French personal numbers, UK National Insurance numbers);
  any id-like value after "passport", "ID number", "tax id", "SSN", "driver's license" ...;
- ``handle``: a bare ``@handle`` (and Mastodon ``@name@host``, Matrix ``@name:host``), a Discord
  tag ``name#1234``, a handle after "my discord/telegram/insta/... is" or "discord: ...";
- ``email``: obfuscated emails (``name at gmail dot com``, ``name [at] proton [dot] me``,
  ``name(at)domain(dot)org``, ``name @ gmail . com``);
- ``phone``: national numbers written without a country code or separators (``01701234567``),
  read by libphonenumber for the countries in ``NATIONAL_REGIONS`` (the scrubber's other phone
  layers read separated and international numbers).
"""

from __future__ import annotations

import re
from functools import lru_cache

#: a run of digits and the separators numbers are written with: where phones, cards and ids are
NUMBER_RUN = re.compile(r"\d[\d \t.+/()-]*\d")


def number_runs(text: str) -> list[tuple[int, int]]:
    """The windows of ``text`` (one character wider each side) that hold 7 digits or more in a run
    of digits and separators: the numeric detectors search these, not the whole text."""
    out = []
    for m in NUMBER_RUN.finditer(text):
        if m.end() - m.start() >= 7 and sum(c.isdigit() for c in m.group(0)) >= 7:
            out.append((max(0, m.start() - 1), min(len(text), m.end() + 1)))
    return out


def _in_runs(pattern: re.Pattern, text: str, runs: list[tuple[int, int]]):
    for start, end in runs:
        yield from pattern.finditer(text, start, end)


# -- crypto ---------------------------------------------------------------------------------------
HEX_ADDRESS = re.compile(r"(?<![0-9A-Za-z])0x[0-9a-fA-F]{40}(?:[0-9a-fA-F]{24})?(?![0-9A-Za-z])")
SHORT_HEX_ADDRESS = re.compile(r"(?<![0-9A-Za-z])0x[0-9a-fA-F]{3,8}(?:…|\.{2,3}|_{2,3})[0-9a-fA-F]{3,8}(?![0-9A-Za-z])")
LONG_TOKEN = re.compile(r"(?<![0-9A-Za-z])[0-9A-Za-z]{25,120}(?![0-9A-Za-z])")
NANO = re.compile(r"(?<![\w])(?:nano|xrb)_[13][13-9a-km-uw-z]{59}(?!\w)", re.IGNORECASE)
CASHADDR = re.compile(r"(?<![\w])(?:bitcoincash|bchtest|ecash):[qp][02-9ac-hj-np-z]{41}(?!\w)", re.IGNORECASE)
NAME_SERVICES = ("eth", "crypto", "nft", "wallet", "bnb", "arb", "lens", "blockchain", "bitcoin", "dao", "888", "zil",
                 "polygon", "klever", "hbar", "bit", "kred", "ton")
#: a name service's top-level domain: the fast way in (a literal "." first, case-sensitive: with
#: IGNORECASE the search loses its literal prefix); the name is read leftwards
NAME_SERVICE = re.compile(r"\.(" + "|".join(f"{t}|{t.upper()}|{t.capitalize()}" for t in NAME_SERVICES) + r")(?![\w-])")
NAME_SERVICE_SET = frozenset(NAME_SERVICES)
NAME_CHARS = frozenset("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-.")
BASE58 = frozenset("123456789ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz")
BECH32 = "qpzry9x8gf2tvdw0s3jn54khce6mua7l"
BECH32_SET = frozenset(BECH32)
BASE32 = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZ234567")


def find_crypto(text: str, lower: str, words: set[str], long_words: list[str]) -> list[tuple[int, int, str]]:
    spans = []
    if "0x" in lower:
        spans += [(m.start(), m.end(), "crypto_address") for m in HEX_ADDRESS.finditer(text)]
        spans += [(m.start(), m.end(), "crypto_address") for m in SHORT_HEX_ADDRESS.finditer(text)]
    if "." in lower:
        for m in NAME_SERVICE.finditer(text):
            if m.group(1).lower() not in NAME_SERVICE_SET:
                continue
            start = m.start()
            while start > 0 and text[start - 1] in NAME_CHARS:
                start -= 1
            while start < m.start() and text[start] in ".-":
                start += 1
            label = text[start:m.start()].rsplit(".", 1)[-1]
            if len(label) >= 3 and text[start - 1:start] != "@":  # (after an "@": an email's domain)
                spans.append((start, m.end(), "crypto_name"))
    if any(len(w) >= 25 for w in long_words):
        spans += [(m.start(), m.end(), "crypto_address") for m in LONG_TOKEN.finditer(text) if is_wallet(m.group(0))]
        if "_" in text:
            spans += [(m.start(), m.end(), "crypto_address") for m in NANO.finditer(text)]
        if ":" in text:
            spans += [(m.start(), m.end(), "crypto_address") for m in CASHADDR.finditer(text)]
    return spans


def is_wallet(token: str) -> bool:
    """A wallet address of some chain (the module docstring lists them), checksum-validated
    where the format has one."""
    if token.startswith(("0x", "0X")):
        return False  # EVM: HEX_ADDRESS
    if _is_bech32(token):
        return True
    if BASE58.issuperset(token):
        if 25 <= len(token) <= 60 and _base58check(token):
            return True
        if token[0] == "r" and 25 <= len(token) <= 35 and _base58check(token, ripple=True):
            return True
        mixed = not token.isdigit() and not token.islower() and not token.isupper()
        if mixed and 32 <= len(token) <= 44 and any(c.isdigit() for c in token) and _base58_length(token) == 32:
            return True  # Solana: a public key, no checksum
        if 46 <= len(token) <= 48 and _is_ss58(token):
            return True
        if len(token) in (95, 106) and token[0] in "48":
            return True  # Monero (standard and integrated addresses)
        if len(token) >= 50 and mixed:
            return True  # Cardano Byron and other long Base58 addresses
    if len(token) in (56, 58) and BASE32.issuperset(token) and any(c.isdigit() for c in token):
        return True  # Stellar (G...), Algorand
    return False


def _is_bech32(token: str) -> bool:
    if not (token.islower() or token.isupper()):
        return False
    low = token.lower()
    pos = low.rfind("1")
    if pos < 1 or pos > 20 or len(low) - pos < 7 or not low[:pos].isalpha():
        return False
    hrp, data = low[:pos], low[pos + 1:]
    if not BECH32_SET.issuperset(data):
        return False
    from bech32 import bech32_hrp_expand, bech32_polymod

    # Bech32 (1) and Bech32m (0x2bc830a3, Taproot); no length cap: Cardano addresses exceed 90
    return bech32_polymod(bech32_hrp_expand(hrp) + [BECH32.index(c) for c in data]) in (1, 0x2BC830A3)


def _base58check(token: str, ripple: bool = False) -> bool:
    import base58

    try:
        payload = base58.b58decode_check(token, alphabet=base58.RIPPLE_ALPHABET if ripple else base58.BITCOIN_ALPHABET)
    except ValueError:
        return False
    return len(payload) >= 20


def _base58_length(token: str) -> int:
    import base58

    return len(base58.b58decode(token))


def _is_ss58(token: str) -> bool:
    """Polkadot/Kusama/Substrate: 1-2 prefix bytes, a 32-byte key, 2 checksum bytes of
    blake2b-512("SS58PRE" + prefix + key)."""
    import base58
    import hashlib

    raw = base58.b58decode(token)
    if len(raw) not in (35, 36):
        return False
    body, check = raw[:-2], raw[-2:]
    return hashlib.blake2b(b"SS58PRE" + body, digest_size=64).digest()[:2] == check


# -- bank accounts and cards ----------------------------------------------------------------------
IBAN = re.compile(r"(?<![A-Za-z0-9])[A-Za-z]{2}\d{2}(?:[ \t-]?[A-Za-z0-9]){11,32}(?![A-Za-z0-9])")
BANK_CUE = re.compile(
    r"\b(?:account|acct|a/c|konto(?:nummer)?|kto|routing|aba|sort[ \t]?code|bsb|bank[ \t]?account|rekening(?:nummer)?|"
    r"numéro[ \t]de[ \t]compte|cuenta|conto)(?:[ \t]*(?:number|no\.?|nr\.?|num|#|code|is|:|=|-))*[ \t]*"
    r"(?P<value>\d[\d \t./-]{4,30}\d)(?![\w])", re.IGNORECASE)
BANK_WORDS = frozenset("account acct konto kontonummer kto routing aba sort bsb rekening rekeningnummer compte cuenta "
                       "conto c".split())  # "c" of "a/c"
CARD = re.compile(r"(?<![\d.,])(?:\d[ .-]?){11,18}\d(?![\d]|[.,]\d)")


def find_bank_and_cards(text: str, lower: str, words: set[str], runs: list[tuple[int, int]],
                        long_words: list[str]) -> list[tuple[int, int, str]]:
    spans = []
    compact_iban = any(w[:2].isalpha() and w[2:4].isdigit() for w in long_words)
    if compact_iban or runs and any(len(w) == 4 and w[:2].isalpha() and w[2:].isdigit() for w in words):
        for m in IBAN.finditer(text):
            end = _valid_iban_end(m.group(0))
            if end:
                spans.append((m.start(), m.start() + end, "bank_account"))
    if not words.isdisjoint(BANK_WORDS):
        for m in BANK_CUE.finditer(text):
            value = m.group("value")
            if sum(c.isdigit() for c in value) >= 6:
                spans.append((m.start("value"), m.end("value"), "bank_account"))
    if runs:
        for m in _in_runs(CARD, text, runs):
            digits = re.sub(r"\D", "", m.group(0))
            seps = set(re.sub(r"\d", "", m.group(0)))
            if len(seps) <= 1 and _card_shaped(digits) and luhn_ok(digits):
                spans.append((m.start(), m.end(), "card"))
    return spans


def _card_shaped(digits: str) -> bool:
    """As issued cards start: 2-6 (Mastercard, Amex, Visa, Discover, UnionPay ...), JCB's 1800 (15
    digits), Maestro's 50 and 56-69 (12 digits and up); 13-19 digits otherwise."""
    if len(digits) == 15 and digits.startswith("1800"):
        return True
    if len(digits) == 12:
        return digits[:2] == "50" or "56" <= digits[:2] <= "69"
    return 13 <= len(digits) <= 19 and digits[0] in "23456"


def _valid_iban_end(candidate: str) -> int:
    """The length of the longest prefix of ``candidate`` that is a valid IBAN (0 if none): the
    pattern may have run on into a word after it."""
    from stdnum import iban

    compact_pos = [i for i, c in enumerate(candidate) if c.isalnum()]
    compact = "".join(candidate[i] for i in compact_pos).upper()
    for n in range(min(len(compact), 34), 14, -1):
        if iban.is_valid(compact[:n]):
            return compact_pos[n - 1] + 1
    return 0


def luhn_ok(digits: str) -> bool:
    total, parity = 0, len(digits) % 2
    for i, ch in enumerate(digits):
        d = int(ch)
        if i % 2 == parity:
            d *= 2
            if d > 9:
                d -= 9
        total += d
    return total % 10 == 0


# -- dates of birth -------------------------------------------------------------------------------
MONTHS = (r"(?:jan(?:uary|\.)?|feb(?:ruary|\.)?|mar(?:ch|\.)?|apr(?:il|\.)?|may|june?|july?|aug(?:ust|\.)?|"
          r"sep(?:t(?:ember)?|\.)?|oct(?:ober|\.)?|nov(?:ember|\.)?|dec(?:ember|\.)?|"
          r"januar|februar|märz|mai|juni|juli|oktober|dezember|janvier|février|mars|avril|juin|juillet|août|"
          r"septembre|octobre|novembre|décembre|enero|febrero|marzo|abril|mayo|junio|julio|agosto|septiembre|"
          r"octubre|noviembre|diciembre)")
DAY = r"(?:[12]\d|3[01]|0?[1-9])(?:st|nd|rd|th|\.)?"
YEAR = r"(?:19|20)\d\d"
DATE = (rf"(?:{DAY}[ \t]+(?:of[ \t]+)?{MONTHS}(?:,?[ \t]+'?(?:{YEAR}|\d\d))?"
        rf"|{MONTHS}[ \t]+{DAY}(?:,?[ \t]+'?(?:{YEAR}|\d\d))?"
        rf"|(?:the[ \t]+)?{DAY}[ \t]+of[ \t]+{MONTHS}(?:,?[ \t]+{YEAR})?"
        rf"|{MONTHS},?[ \t]+{YEAR}"
        rf"|{YEAR}[-/.](?:0?[1-9]|1[0-2])[-/.](?:0?[1-9]|[12]\d|3[01])"
        rf"|(?:0?[1-9]|[12]\d|3[01])[-/.](?:0?[1-9]|[12]\d|3[01])[-/.](?:{YEAR}|\d\d))")
BIRTH_CUE = (r"(?:born|b\.|dob|d\.o\.b\.?|date[ \t]+of[ \t]+birth|birth[ \t]?date|birthday|bday|b-day|geburtstag|"
             r"geboren|geb\.|né|née|nacid[oa]|fecha[ \t]+de[ \t]+nacimiento|nat[oa]|data[ \t]+di[ \t]+nascita)")
BIRTH = re.compile(
    rf"\b{BIRTH_CUE}(?:[ \t]*(?::|-|–|=|is|was|on|in|am|le|el|il|the|of|mine|my|me|i[ \t]+was|'s))*[ \t]*(?P<date>{DATE})(?![\w])",
    re.IGNORECASE)
BIRTH_WORDS = frozenset("born b dob birth birthdate birthday bday b-day geburtstag geboren geb né née nacido nacida "
                        "nacimiento nato nata nascita".split())


def find_birth_dates(text: str, lower: str, words: set[str]) -> list[tuple[int, int, str]]:
    if words.isdisjoint(BIRTH_WORDS):
        return []
    return [(m.start("date"), m.end("date"), "date_of_birth") for m in BIRTH.finditer(text)]


# -- national ids ---------------------------------------------------------------------------------
#: ``(pattern, python-stdnum module)``: shapes distinctive enough to check without a cue word
#: ``(pattern, python-stdnum modules)``: shapes distinctive enough to check without a cue word;
#: numbers only (looked for where a text has 7 digits in a row) ...
NUMERIC_ID_SHAPES = (
    (r"\d{3}\.\d{3}\.\d{3}-\d{2}", ("br.cpf",)),
    (r"[2-9]\d{3}[ -]\d{4}[ -]\d{4}", ("in_.aadhaar",)),
    (r"\d{3}[ -]\d{3}[ -]\d{3}", ("ca.sin", "au.tfn")),
    (r"(?:19|20)?\d{6}[-+]\d{4}", ("se.personnummer", "dk.cpr")),
    (r"\d{6}-[1-4]\d{6}", ("kr.rrn",)),
    (r"\d{17}[\dX]", ("cn.ric",)),
    (r"\d{13}", ("za.idnr",)),
    (r"\d{1,2}\.\d{3}\.\d{3}-[\dkK]", ("cl.rut",)),
    (r"756\.\d{4}\.\d{4}\.\d{2}", ("ch.ssn",)),
    (r"\d{2}\.\d{2}\.\d{2}-\d{3}\.\d{2}", ("be.nn",)),
    (r"[12] ?\d{2} ?\d{2} ?(?:\d{2}|2[AB]) ?\d{3} ?\d{3} ?\d{2}", ("fr.nir",)),
    (r"\d{11}", ("pl.pesel", "no.fodselsnummer", "tr.tckimlik")),
    (r"9\d{2}-[5-9]\d-\d{4}", ("us.itin",)),
)
#: ... and with letters (looked for where a long word mixes letters and digits)
ALNUM_ID_SHAPES = (
    (r"[A-Z]{3}[ABCFGHJLPT][A-Z]\d{4}[A-Z]", ("in_.pan",)),
    (r"\d{8}-?[A-Z]", ("es.dni",)),
    (r"[XYZ]-?\d{7}-?[A-Z]", ("es.nie",)),
    (r"[A-Z]{6}\d{2}[A-EHLMPRST]\d{2}[A-Z]\d{3}[A-Z]", ("it.codicefiscale",)),
    (r"\d{6}[-+A]\d{3}[0-9A-Y]", ("fi.hetu",)),
    (r"[A-Z]{4}\d{6}[HM][A-Z]{5}[A-Z0-9]\d", ("mx.curp",)),
)


def _shapes(shapes) -> re.Pattern:
    return re.compile(r"(?<![\w.-])(?:" + "|".join(f"(?P<g{i}>{p})" for i, (p, _) in enumerate(shapes))
                      + r")(?![\w-]|[.,]\d)")


NUMERIC_ID = _shapes(NUMERIC_ID_SHAPES)
ALNUM_ID = _shapes(ALNUM_ID_SHAPES)
#: a lower-cased word that may be one of ALNUM_ID_SHAPES (the cheap test before ALNUM_ID runs)
ALNUM_ID_WORD = re.compile(r"[a-z]{3,6}\d{2,6}[a-z0-9]{1,10}|\d{6,8}[-+a]?[a-z0-9]{1,4}|[xyz]-?\d{7}-?[a-z]")
# US social security numbers (the 9xx and 000 areas are never issued)
SSN = re.compile(r"\b(?!000|666|9\d\d)\d{3}-(?!00)\d{2}-(?!0000)\d{4}\b")
# UK National Insurance numbers: two letters (not D, F, I, Q, U, V; not BG, GB, NK, KN, TN, NT, ZZ), six digits, A-D
NINO = re.compile(r"\b(?!BG|GB|NK|KN|TN|NT|ZZ)[A-CEGHJ-PR-TW-Z][A-CEGHJ-NPR-TW-Z] ?\d{2} ?\d{2} ?\d{2} ?[A-D]\b")
SPACED_NINO_DIGITS = re.compile(r"\d\d \d\d \d\d")
ID_CUE = re.compile(
    r"\b(?:passport|pass[ \t]?no|reisepass|passeport|pasaporte|passaporto|ssn|social[ \t]security|tfn|"
    r"tax[ \t]?(?:id|file|number|code|no)|nino|national[ \t]insurance|national[ \t]id(?:entity)?|id[ \t]?card|"
    r"identity[ \t]card|id[ \t]?(?:number|no|#)|identification[ \t]number|driver'?s?[ \t]licen[cs]e|driving[ \t]licen[cs]e|"
    r"licen[cs]e[ \t](?:number|no|#)|aadhaa?r|pan[ \t](?:card|number|no)|cpf|dni|nie|nif|bsn|pesel|personnummer|"
    r"steuer-?id|steuernummer|personalausweis|codice[ \t]fiscale|curp|rfc|medicare|nhs[ \t]number|health[ \t]card|"
    r"student[ \t]id|employee[ \t]id|member(?:ship)?[ \t](?:id|number)|voter[ \t]id)"
    r"(?:[ \t]*(?:number|num|no\.?|nr\.?|#|id|is|was|es|est|ist|är|:|=|-))*[ \t]*"
    r"(?P<value>(?-i:[A-Z0-9])[A-Z0-9]*(?:[ .\-/]?\d[A-Z0-9]*)*)(?![\w])", re.IGNORECASE)
#: the words one of ID_CUE holds (rare ones: "social security" by "security", "ID card" by "id")
ID_WORDS = frozenset("""passport reisepass passeport pasaporte passaporto ssn tfn tin nino id
identification license licence aadhar aadhaar pan cpf dni nie nif bsn pesel personnummer steuer-id steuerid
steuernummer personalausweis fiscale curp rfc medicare nhs""".split())


def find_national_ids(text: str, lower: str, words: set[str], runs: list[tuple[int, int]], six_digits: bool,
                      long_words: list[str]) -> list[tuple[int, int, str]]:
    """``runs``: ``number_runs(text)``; ``six_digits``: the text holds six digits in a run."""
    spans = []
    if runs:
        if "-" in text:
            spans += [(m.start(), m.end(), "national_id") for m in _in_runs(SSN, text, runs)]
        spans += _validated(_in_runs(NUMERIC_ID, text, runs), NUMERIC_ID_SHAPES)
    if any(ALNUM_ID_WORD.fullmatch(w) for w in long_words if not w.isalpha() and not w.isdigit()):
        spans += _validated(ALNUM_ID.finditer(text), ALNUM_ID_SHAPES)
        spans += [(m.start(), m.end(), "national_id") for m in NINO.finditer(text)]
    elif six_digits and SPACED_NINO_DIGITS.search(text):  # "QQ 12 34 56 C"
        spans += [(m.start(), m.end(), "national_id") for m in NINO.finditer(text)]
    if not words.isdisjoint(ID_WORDS) or {"social", "security"} <= words or {"national", "insurance"} <= words:
        for m in ID_CUE.finditer(text):
            value = m.group("value")
            passport = m.group(0)[:4].lower() in ("pass", "reis")  # passport numbers: letters and a digit or two
            if sum(c.isdigit() for c in value) >= (1 if passport and len(value) >= 6 else 3):
                spans.append((m.start("value"), m.end("value"), "national_id"))
    return spans


def _validated(matches, shapes) -> list[tuple[int, int, str]]:
    spans = []
    for m in matches:
        modules = shapes[int(m.lastgroup[1:])][1]
        if "00000" not in m.group(0) and any(_stdnum_valid(module, m.group(0)) for module in modules):
            spans.append((m.start(), m.end(), "national_id"))
    return spans


@lru_cache(maxsize=None)
def _stdnum_module(name: str):
    import importlib

    return importlib.import_module(f"stdnum.{name}")


def _stdnum_valid(module: str, value: str) -> bool:
    return _stdnum_module(module).is_valid(value)


# -- handles --------------------------------------------------------------------------------------
AT_HANDLE = re.compile(
    r"(?<![\w@+\-/=&?#:$])@[A-Za-z0-9_](?:[A-Za-z0-9_.]{0,38}[A-Za-z0-9_])?"
    r"(?:@[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)+|:[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)+)?")
#: @words that address no one: prices ("@3k", "@ 2.5"), group mentions
NOT_AT = re.compile(r"^@(?:\d+(?:[.,]\d+)?[kKmMbB]?|everyone|here|channel|all|mods?|admins?|moderators?)$")
DISCORD_TAG = re.compile(r"(?<![\w#])(?P<name>[A-Za-z0-9_.]{2,32})#\d{4}(?![\w])")
NOT_DISCORD = frozenset("""eip erc bip pr issue issues ticket no number num item page step rule part chapter vol episode
ep id order block slot epoch tx nft token mint edition lot pip sip lip cip aip ip rfc iso version v""".split())
#: what follows a site's name before a handle: "discord: name", "my telegram handle is @name"
HANDLE_AFTER = re.compile(
    r"(?:[ \t]+(?:user[ \t]?name|handle|id|tag|name|account|acc|profile|nick(?:name)?))*"
    r"[ \t]*(?P<sep>:|=|@|is|-)?[ \t]*(?P<at>@)?(?P<h>[A-Za-z0-9_.#-]*[A-Za-z0-9_])(?![\w@])", re.IGNORECASE)
#: sites whose name, then "is" or ":", comes before a handle
HANDLE_WORDS = frozenset("""discord telegram twitter insta instagram snapchat wechat weixin kik skype psn xbox gamertag
farcaster warpcast keybase threema whatsapp bluesky bsky tiktok twitch github gitlab mastodon viber battlenet
roblox steam ig tg fb snap sc twt dc""".split())
#: short names of sites, read as a site's only before ":" or "@" ("ig: name", not "ig is ...")
SHORT_SITES = frozenset("ig tg fb snap sc twt dc".split())


def find_handles(text: str, lower: str, words: set[str], ordinary) -> list[tuple[int, int, str]]:
    """``ordinary(word) -> bool``: a word too common in English to be read as a handle after a
    site's name without an "@" ("my twitter is great")."""
    spans = []
    if "@" in text:
        for m in AT_HANDLE.finditer(text):
            if not NOT_AT.match(m.group(0)):
                spans.append((m.start(), m.end(), "handle"))
    if "#" in text:
        for m in DISCORD_TAG.finditer(text):
            name = m.group("name")
            if name.lower() not in NOT_DISCORD and not name.isdigit():
                spans.append((m.start(), m.end(), "handle"))
    for site in words & HANDLE_WORDS:
        i = lower.find(site)
        while i >= 0:
            m = HANDLE_AFTER.match(text, i + len(site)) if (i == 0 or not lower[i - 1].isalnum()) else None
            i = lower.find(site, i + len(site))
            if not m:
                continue
            h, sep = m.group("h"), m.group("sep")
            if len(h) < 3 or h.isdigit() or site in SHORT_SITES and sep not in (":", "@") and not m.group("at"):
                continue
            # "@name", "name_42", "name.eth" are handles; plain words ("over-dramatic") only when no English
            # word, and only after ":", "is", ... ("on twitter today")
            marked = m.group("at") or not h.replace("-", "").isalpha()
            if marked or sep and not all(ordinary(w) for w in h.lower().split("-")):
                spans.append((m.start("h") - (1 if m.group("at") else 0), m.end("h"), "handle"))
    return spans


# -- obfuscated emails ----------------------------------------------------------------------------
OB_AT = r"(?:[ \t]*[\[({<][ \t]*(?:at|AT|At)[ \t]*[\])}>][ \t]*|[ \t]+(?:at|AT)[ \t]+|[ \t]*[@＠][ \t]+|[ \t]+[@＠][ \t]*)"
#: the spellings of "@" and "." that hide an email by themselves ("[at]", "dot"): no provider needed
OB_DOT = r"(?:[ \t]*[\[({<][ \t]*(?:dot|DOT|Dot)[ \t]*[\])}>][ \t]*|[ \t]+(?:dot|DOT)[ \t]+|[ \t]*[.．][ \t]*)"
OB_TLDS = ("com|net|org|edu|gov|io|me|co|de|uk|fr|nl|ch|se|no|dk|fi|it|es|pl|ru|jp|au|ca|in|br|info|biz|us|eu|"
           "xyz|app|dev|ai|at|be|cz|ie|nz|za|mx|ar|pt|gr|tr|il|sg|hk|kr|cn|tw")
OBFUSCATED_EMAIL = re.compile(
    rf"(?<![\w.+-])(?P<local>[A-Za-z0-9][A-Za-z0-9._+-]{{0,63}})(?P<at>{OB_AT})"
    rf"(?P<domain>[A-Za-z0-9][A-Za-z0-9-]{{1,62}}(?:{OB_DOT}[A-Za-z0-9][A-Za-z0-9-]{{1,62}})*?)(?P<dot>{OB_DOT})"
    rf"(?P<tld>(?-i:{OB_TLDS}|{OB_TLDS.upper()}))(?![\w])", re.IGNORECASE)
#: Mail providers whose name is no English word: "name at gmail" means an email
MAIL_HOSTS = frozenset("""gmail googlemail yahoo ymail hotmail outlook icloud aol protonmail proton gmx yandex zoho tutanota
tuta tutamail fastmail posteo hushmail qq rediffmail seznam laposte libero virgilio t-online bluewin comcast verizon
sbcglobal btinternet ntlworld mailfence disroot riseup""".split())
#: and those whose name is also a word, read as a provider only before a top-level domain
MAIL_PROVIDERS = MAIL_HOSTS | frozenset("live msn me mac pm web mail hey mailbox 163 126 orange free att sky".split())
#: "mail me: name at gmail" (no top-level domain) after a word that asks for an email
MAIL_CUE = re.compile(
    rf"\b(?:e-?mail|mail|contact|write|reach|message)\b[^\n.!?]{{0,30}}?(?<![\w.+-])(?P<local>[A-Za-z0-9][A-Za-z0-9._+-]{{1,63}})"
    rf"{OB_AT}(?P<provider>{'|'.join(sorted(MAIL_HOSTS, key=len, reverse=True))})(?![\w])", re.IGNORECASE)


def find_obfuscated_emails(text: str, lower: str, words: set[str]) -> list[tuple[int, int, str]]:
    if not ("dot" in words or "[at]" in lower or "(at)" in lower or "{at}" in lower or "<at>" in lower
            or "@ " in text or " @" in text or "＠" in text or not words.isdisjoint(MAIL_HOSTS)):
        return []
    spans = []
    for m in OBFUSCATED_EMAIL.finditer(text):
        hidden_at = m.group("at").strip()[:1] in "[({<"
        hidden_dot = "dot" in m.group("dot").lower() or re.search(r"(?i)dot", m.group("domain")) is not None
        provider = re.split(r"[\s.\[({<]", m.group("domain").strip())[0].lower()
        if not (hidden_at or hidden_dot) and provider not in MAIL_PROVIDERS:
            continue  # "look at reddit.com", "from @FDICgov. It": a word, "at", a website
        spans.append((m.start(), m.end(), "email"))
    for m in MAIL_CUE.finditer(text):
        spans.append((m.start("local"), m.end("provider"), "email"))
    return spans


# -- national phone numbers -----------------------------------------------------------------------
#: Countries whose national numbers (written with the trunk 0 and no separators) are read
NATIONAL_REGIONS = ("DE", "GB", "FR", "IT", "ES", "NL", "BE", "AT", "CH", "AU", "IN", "BR", "IE", "NZ", "ZA", "PL",
                    "SE", "NO", "DK", "FI", "PT", "JP", "KR", "PH", "NG", "KE", "PK", "TR", "AR", "MX")
COMPACT_PHONE = re.compile(r"(?<![\w.,/:+#$€£-])(?:\+|00)?0?\d{8,14}(?![\w]|[.,/-]\d)")


def find_national_phones(text: str, runs: list[tuple[int, int]]) -> list[tuple[int, int, str]]:
    import phonenumbers

    spans = []
    for m in _in_runs(COMPACT_PHONE, text, runs):
        number = m.group(0)
        if not number.startswith(("0", "+")) or number.startswith("000"):
            continue
        for region in NATIONAL_REGIONS:
            try:
                parsed = phonenumbers.parse(number, region)
            except phonenumbers.NumberParseException:
                break
            if phonenumbers.is_valid_number(parsed):
                spans.append((m.start(), m.end(), "phone"))
                break
            if number.startswith("+"):
                break  # the country is in the number: one parse says it all
    return spans
