"""Probes: synthetic identifiers of every family the scrubber knows, for tests and benchmarks.

``probes(seed)`` gives one ``Probe`` per kind (64 kinds in 14 families): a sentence to plant into
a real comment and the secrets that must not survive scrubbing. Values are drawn from a seeded
generator and carry valid checksums where the format has one (IBAN, Luhn, Base58Check,
Bech32/Bech32m, python-stdnum's national ids), so a detector that validates sees them as real.
``author_probes(names, seed)`` writes real author names of a corpus the ways people write them.

The test ``tests/stages/test_privacy_probes.py`` plants them into real r/ethereum threads and
checks the anonymize output, the release and the audit; ``bench/privacy.py`` measures each
family's recall on them beside its findings on real text.
"""

from __future__ import annotations

import hashlib
import random
import re
from dataclasses import dataclass


@dataclass(frozen=True)
class Probe:
    kind: str  # what was planted: "iban_spaced", "ens_name", ...
    family: str  # the scrubber's kind that must find it: "bank_account", "crypto_name", ...
    secrets: tuple[str, ...]  # what must not survive (case-insensitive)
    sentence: str  # what is planted


def _b58check(version: bytes, payload: bytes, alphabet=None) -> str:
    import base58

    return base58.b58encode_check(version + payload, alphabet=alphabet or base58.BITCOIN_ALPHABET).decode()


def _segwit(hrp: str, version: int, program: bytes) -> str:
    from bech32 import CHARSET, bech32_hrp_expand, bech32_polymod, convertbits

    data = [version] + convertbits(program, 8, 5)
    const = 1 if version == 0 else 0x2BC830A3  # Bech32 for v0, Bech32m for v1+ (BIP-350)
    polymod = bech32_polymod(bech32_hrp_expand(hrp) + data + [0] * 6) ^ const
    checksum = [(polymod >> 5 * (5 - i)) & 31 for i in range(6)]
    return hrp + "1" + "".join(CHARSET[d] for d in data + checksum)


def _bech32(hrp: str, program: bytes) -> str:
    from bech32 import bech32_encode, convertbits

    return bech32_encode(hrp, convertbits(program, 8, 5))


def _iban(country: str, bban: str) -> str:
    from stdnum.iso7064 import mod_97_10

    check = mod_97_10.calc_check_digits(bban + country)
    return country + check + bban


def _luhn_complete(prefix: str, length: int, rng: random.Random) -> str:
    from stdnum import luhn

    body = prefix + "".join(rng.choice("0123456789") for _ in range(length - len(prefix) - 1))
    return body + luhn.calc_check_digit(body)


def _groups(s: str, sizes: tuple[int, ...], sep: str) -> str:
    out, i = [], 0
    for n in sizes:
        out.append(s[i:i + n])
        i += n
    return sep.join(out)


def probes(seed: int = 0) -> list[Probe]:
    """One probe per kind, drawn from ``seed``."""
    import base58
    from stdnum import verhoeff
    from stdnum.br import cpf
    from stdnum.es import dni

    rng = random.Random(seed)

    def tag(n: int = 6) -> str:
        return "".join(rng.choice("bcdfghjkmnpqrstvwxz") for _ in range(n))

    def digits(n: int) -> str:
        return "".join(rng.choice("123456789") for _ in range(n))

    def raw(n: int) -> bytes:
        return bytes(rng.randrange(256) for _ in range(n))

    handle = f"{tag(5)}_{tag(4)}{rng.randint(10, 99)}"
    first = rng.choice(["lena", "marta", "joao", "priya", "tomasz", "keiko", "amara", "sven"])
    nick = f"{first}{tag(4)}"
    out: list[Probe] = []

    def add(kind: str, family: str, sentence: str, *secrets: str) -> None:
        out.append(Probe(kind, family, secrets, sentence))

    # crypto wallets and names
    evm = "0x" + "".join(rng.choice("0123456789abcdefABCDEF") for _ in range(40))
    add("evm_address", "crypto_address", f"Send the tip to my wallet {evm} if you liked it.", evm)
    evm2 = "0x" + raw(20).hex()
    add("evm_address_lower", "crypto_address", f"my address is {evm2} btw", evm2)
    tx = "0x" + raw(32).hex()
    add("evm_tx_hash", "crypto_address", f"Here is my transaction: {tx} still pending.", tx)
    short = evm2[:6] + "…" + evm2[-4:]
    add("evm_short", "crypto_address", f"that was me, {short} on the leaderboard", short)
    btc = _b58check(b"\x00", raw(20))
    add("btc_legacy", "crypto_address", f"BTC donations: {btc}", btc)
    p2sh = _b58check(b"\x05", raw(20))
    add("btc_p2sh", "crypto_address", f"my multisig is {p2sh} fwiw", p2sh)
    segwit = _segwit("bc", 0, raw(20))
    add("btc_bech32", "crypto_address", f"I moved everything to {segwit} last week.", segwit)
    taproot = _segwit("bc", 1, raw(32))
    add("btc_taproot", "crypto_address", f"new taproot address {taproot} works fine", taproot)
    ltc = _segwit("ltc", 0, raw(20))
    add("litecoin", "crypto_address", f"LTC here: {ltc}", ltc)
    doge = _b58check(b"\x1e", raw(20))
    add("dogecoin", "crypto_address", f"much wow, send doge to {doge}", doge)
    tron = _b58check(b"\x41", raw(20))
    add("tron", "crypto_address", f"USDT on Tron to {tron} please", tron)
    xrp = _b58check(b"\x00", raw(20), alphabet=base58.RIPPLE_ALPHABET)
    add("xrp", "crypto_address", f"my XRP wallet {xrp} (no tag needed)", xrp)
    sol = base58.b58encode(raw(32)).decode()
    while len(sol) < 43:
        sol = base58.b58encode(raw(32)).decode()
    add("solana", "crypto_address", f"Solana: {sol}", sol)
    cosmos = _bech32("cosmos", raw(20))
    add("cosmos", "crypto_address", f"stake with me at {cosmos} :)", cosmos)
    ens = f"{nick}.eth"
    add("ens_name", "crypto_name", f"you can find me as {ens} on most dapps", ens)
    add("ens_subdomain", "crypto_name", f"pay {tag(3)}.{nick}.eth for the pizza", f"{nick}.eth")
    ud = f"{nick}.crypto"
    add("unstoppable_name", "crypto_name", f"my other name is {ud}", ud)

    # bank accounts and cards
    de = _iban("DE", digits(18))
    add("iban_spaced", "bank_account", f"Please wire it to {_groups(de, (4, 4, 4, 4, 4, 2), ' ')} thanks",
        _groups(de, (4, 4, 4, 4, 4, 2), " "), de[-10:])
    gb = _iban("GB", "WEST" + digits(14))
    add("iban_compact", "bank_account", f"IBAN {gb}", gb)
    fr = _iban("FR", digits(23))
    add("iban_lowercase", "bank_account", f"mon iban: {_groups(fr.lower(), (4,) * 6 + (3,), ' ')}", fr[-11:])
    account = digits(10)
    add("account_number", "bank_account", f"routing number {digits(9)}, account number {account}", account)
    sort_account = digits(8)
    add("sort_code_account", "bank_account", f"sort code 20-{digits(2)}-{digits(2)}, acct {sort_account}", sort_account)
    visa = _luhn_complete("4", 16, rng)
    add("card_spaces", "card", f"my card {_groups(visa, (4, 4, 4, 4), ' ')} got declined", _groups(visa, (4, 4, 4, 4), " "))
    master = _luhn_complete("5" + rng.choice("12345"), 16, rng)
    add("card_dots", "card", f"card {_groups(master, (4, 4, 4, 4), '.')} exp 04/29", _groups(master, (4, 4, 4, 4), "."))
    amex = _luhn_complete("3" + rng.choice("47"), 15, rng)
    add("card_amex", "card", f"amex {_groups(amex, (4, 6, 5), '-')}", _groups(amex, (4, 6, 5), "-"))
    disc = _luhn_complete("6011", 16, rng)
    add("card_compact", "card", f"use {disc} for the deposit", disc)

    # dates of birth
    year, day = rng.randint(1950, 2004), rng.randint(1, 28)
    month = rng.choice(["January", "February", "March", "April", "June", "July", "September", "October"])
    mnum = ["January", "February", "March", "April", "May", "June", "July", "August", "September", "October",
            "November", "December"].index(month) + 1
    add("dob_born_day_month_year", "date_of_birth", f"I was born {day} {month} {year} so yes, old.", f"{day} {month} {year}")
    add("dob_iso", "date_of_birth", f"DOB {year}-{mnum:02d}-{day:02d}", f"{year}-{mnum:02d}-{day:02d}")
    add("dob_us_slashes", "date_of_birth", f"my birthday is {mnum:02d}/{day:02d}/{year}, send cake",
        f"{mnum:02d}/{day:02d}/{year}")
    add("dob_dots", "date_of_birth", f"Date of birth: {day:02d}.{mnum:02d}.{year}", f"{day:02d}.{mnum:02d}.{year}")
    add("dob_month_first", "date_of_birth", f"I was born on {month} {day}th, {year} in a small town",
        f"{month} {day}th, {year}")

    # street addresses
    street = rng.choice(["Friedrichstraße", "Hauptstraße", "Lindenstrasse", "Schillerweg"])
    plz = f"{rng.randint(10, 99)}{digits(3)}"
    add("address_de", "address", f"Kommt vorbei: {street} {rng.randint(2, 140)}, {plz} Berlin", f"{plz} Berlin")
    pin = f"{rng.randint(1, 8)}{digits(5)}"
    add("address_in", "address", f"Ship to Flat {rng.randint(101, 909)}, Sai Residency, {rng.randint(2, 19)}th Cross, "
        f"Indiranagar, Bengaluru {pin} please", "Sai Residency", pin)
    au = f"Unit {rng.randint(2, 30)}/{rng.randint(2, 99)} {rng.choice(['Smith', 'George', 'Church'])} Street"
    add("address_au", "address", f"post it to {au}, Parramatta NSW 2150", au, "NSW 2150")
    fr_addr = f"{rng.randint(2, 99)} rue de la {rng.choice(['Paix', 'Gare', 'Republique'])}"
    add("address_fr", "address", f"J'habite au {fr_addr}, 75002 Paris", fr_addr, "75002 Paris")
    nl = f"Keizersgracht {rng.randint(10, 400)}"
    add("address_nl", "address", f"ons adres: {nl}, 1015 CJ Amsterdam", nl, "1015 CJ")
    us = f"{rng.randint(100, 9899)} {rng.choice(['Maple', 'Elm', 'Oak'])} Street"
    add("address_us", "address", f"ship it to {us}, Springfield, IL 62704 please", us, "62704")
    add("address_uk", "address", f"I live at {rng.randint(2, 300)} Baker Street, London NW1 6XE now", "NW1 6XE",
        "Baker Street")
    es = f"Calle Mayor {rng.randint(2, 90)}"
    add("address_es", "address", f"mi casa: {es}, 28013 Madrid", es, "28013 Madrid")

    # profile links and handles
    add("github_io", "profile_link", f"my blog is {nick}.github.io if anyone cares", f"{nick}.github.io")
    add("gist", "profile_link", f"script at gist.github.com/{nick}/{raw(8).hex()}", f"gist.github.com/{nick}")
    add("warpcast", "profile_link", f"follow me on warpcast.com/{nick}", f"warpcast.com/{nick}")
    add("mastodon", "profile_link", f"I'm on mastodon.social/@{nick} now", f"@{nick}")
    add("keybase", "profile_link", f"verify me: keybase.io/{nick}", f"keybase.io/{nick}")
    add("substack", "profile_link", f"I write at https://{nick}.substack.com/p/why-i-stake", f"{nick}.substack")
    add("twitter", "profile_link", f"DM me https://twitter.com/{handle}", handle)
    add("x_status", "profile_link", f"I posted it here x.com/{handle}/status/1{digits(18)}", handle)
    add("instagram", "profile_link", f"pics on instagram.com/{nick}.photos", nick)
    add("tiktok", "profile_link", f"tiktok.com/@{nick} for the videos", nick)
    add("youtube", "profile_link", f"my channel youtube.com/@{nick}", nick)
    add("linkedin", "profile_link", f"hire me: linkedin.com/in/{first}-{tag(5)}-{digits(3)}", f"{first}-")
    add("telegram", "profile_link", f"telegram t.me/{handle}", handle)
    add("bluesky", "profile_link", f"bsky.app/profile/{nick}.bsky.social", nick)
    add("broken_scheme", "profile_link", f"source: ht tps://twitter.com/{handle}/status/1{digits(18)}", handle)
    add("discord_tag", "handle", f"add me on discord {nick}#{rng.randint(1000, 9999)}", nick)
    add("at_handle", "handle", f"ping @{handle} for the code", handle)
    add("site_handle", "handle", f"my telegram is {nick}_{digits(2)}", f"{nick}_")

    # emails, plain and obfuscated
    add("email", "email", f"write to {nick}.{tag(3)}@gmail.com", f"{nick}.")
    add("email_at_dot", "email", f"email me at {nick} at gmail dot com", nick)
    add("email_brackets", "email", f"contact: {nick} [at] protonmail [dot] com", nick)
    add("email_parens", "email", f"mail {nick}(at)posteo(dot)de", nick)

    # phone numbers
    mobile = f"0170{digits(7)}"
    add("phone_de_compact", "phone", f"ruf an: {mobile}", mobile)
    de_intl = f"+49 170 {digits(7)}"
    add("phone_de_international", "phone", f"WhatsApp {de_intl}", de_intl)
    uk = f"07700 {rng.randint(900000, 900999)}"
    add("phone_uk", "phone", f"text me on {uk}", uk)
    india = f"+91 9{digits(4)} {digits(5)}"
    add("phone_in", "phone", f"call {india} after 6", india)
    us_phone = f"({rng.randint(201, 989)}) {rng.randint(201, 989)}-{digits(4)}"
    add("phone_us", "phone", f"Call me at {us_phone} after six.", us_phone)

    # national id, tax and passport numbers
    area = rng.randint(100, 665)
    ssn = f"{area}-{rng.randint(10, 99)}-{rng.randint(1000, 9999)}"
    add("ssn", "national_id", f"my SSN is {ssn} lol", ssn)
    nino = f"{rng.choice(['AB', 'CE', 'JK', 'PR'])} {digits(2)} {digits(2)} {digits(2)} {rng.choice('ABCD')}"
    add("uk_nino", "national_id", f"NI number {nino}", nino[3:11])
    body = str(rng.randint(2, 9)) + digits(10)
    aadhaar = body + verhoeff.calc_check_digit(body)
    add("aadhaar", "national_id", f"aadhaar {_groups(aadhaar, (4, 4, 4), ' ')}", _groups(aadhaar, (4, 4, 4), " "))
    pan = "".join(rng.choice("ABCDEFGHJKLMNPQRSTUVWXYZ") for _ in range(3)) + "P" + rng.choice("ABCDEFGH") + digits(4) + \
        rng.choice("ABCDEFGH")
    add("pan", "national_id", f"PAN {pan} for the tax form", pan)
    number = digits(8)
    add("dni", "national_id", f"mi DNI es {number}{dni.calc_check_digit(number)}", number)
    cpf_body = digits(9)
    cpf_number = cpf_body + cpf._calc_check_digits(cpf_body)
    add("cpf", "national_id", f"CPF {cpf.format(cpf_number)}", cpf.format(cpf_number))
    passport = rng.choice("CFGHJK") + "".join(rng.choice("0123456789CFGHJKLMNPRTVWXYZ") for _ in range(8))
    passport = passport[:2] + digits(1) + passport[3:]
    add("passport", "national_id", f"passport number {passport} expires soon", passport)
    tax = digits(11)
    add("tax_id", "national_id", f"Steuer-ID: {tax}", tax)
    ip = f"203.0.{rng.randint(1, 254)}.{rng.randint(1, 254)}"
    add("ip_address", "ip", f"my node is at {ip}", ip)
    return out


NAME_SPLIT = re.compile(r"[-_]+")


def author_probes(names: list[str], seed: int = 0) -> list[Probe]:
    """Real author names written the ways people write them: as they are, in upper case, with
    spaces for their separators, possessive, quoted, inside a link, with Markdown's escaped
    underscore. ``names`` are the corpus's author names; hyphenated, underscored and digit names
    are preferred (those an "ordinary word" rule let through)."""
    rng = random.Random(seed)
    def spaced_ok(n: str) -> bool:  # a part of 3+ letters: "o-l-o" is not looked for with spaces
        return any(len(p) >= 3 and not p.isdigit() for p in NAME_SPLIT.split(n))

    hyphen = sorted(n for n in names if "-" in n.strip("-") and len(n) >= 6 and spaced_ok(n))
    under = sorted(n for n in names if "_" in n.strip("_") and len(n) >= 6 and "-" not in n and spaced_ok(n))
    digit = sorted(n for n in names if any(c.isdigit() for c in n) and any(c.isalpha() for c in n) and len(n) >= 5)
    out: list[Probe] = []

    def pick(pool):
        return pool[int(hashlib.sha256(f"{seed}:{len(out)}".encode()).hexdigest(), 16) % len(pool)]

    if hyphen:
        n = pick(hyphen)
        out.append(Probe("name_hyphen", "author_name", (n,), f"I agree with what {n} described above."))
        n = pick(hyphen)
        spaced = " ".join(w.capitalize() for w in NAME_SPLIT.split(n) if w)
        out.append(Probe("name_hyphen_spaced", "author_name", (spaced,), f"As {spaced} said, fees will drop."))
        n = pick(hyphen)
        out.append(Probe("name_possessive", "author_name", (n,), f"{n}'s take on this was right."))
        n = pick(hyphen)
        out.append(Probe("name_table", "author_name", (n,), f"| {n} | {rng.randint(5, 40)} |"))
    if under:
        n = pick(under)
        spaced = " ".join(w.capitalize() for w in NAME_SPLIT.split(n) if w)
        out.append(Probe("name_underscore_spaced", "author_name", (spaced,), f"ask {spaced} about the node setup"))
        n = pick(under)
        escaped = n.replace("_", "\\_")
        out.append(Probe("name_markdown_escaped", "author_name", (n, escaped), f"thanks {escaped} for the tip"))
        n = pick(under)
        out.append(Probe("name_quoted", "author_name", (n,), f'as "{n}" put it, patience pays'))
    if digit:
        n = pick(digit)
        out.append(Probe("name_digits_upper", "author_name", (n,), f"{n.upper()} was right all along"))
        n = pick(digit)
        out.append(Probe("name_in_link", "author_name", (n,), f"see example.org/people/{n}/posts for more"))
    return out
