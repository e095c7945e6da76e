"""Street addresses in text, for the scrubber: ``find_addresses(text, words, has_digit)``.

No address parser that installs from PyPI reads addresses inside running text in many countries
(libpostal needs a C library and 2 GB of models; usaddress and pyap read the US, Canada and the
UK), so these are patterns of the national formats, tuned on real comments for precision:

- number first: "1600 Elm Street, Springfield, IL 62704", "221B Baker Street, London NW1 6XE",
  "100 Queen St W, Toronto, ON M5H 2N2", Australian units "Unit 5/17 Smith Street,
  Parramatta NSW 2150", "12 rue de la Paix, 75002 Paris";
- street first, continental: "Friedrichstraße 6, 10117 Berlin", "Keizersgracht 123, 1015 CJ
  Amsterdam", "ul. Zamkowa 33, 00-950 Warszawa", "Via Roma 10, 00184 Roma", "Calle Mayor 5,
  28013 Madrid", "Unter den Linden 77, 10117 Berlin" (a street, a number, a postcode and a city);
- comma-separated lines ending in a postcode: Indian "Flat 302, Sai Residency, 14th Cross,
  Indiranagar, Bengaluru 560038" (the lines before the city and PIN go with it), "Singapore
  238859", Japanese "〒100-0001";
- parts that name a place on their own: "Apt 4B", "Flat 302", US state + ZIP, UK and Canadian
  postcodes, Australian state + postcode, PO boxes, military PSC/APO addresses, "the corner of X
  and Y"; and the lines that follow an address on an envelope.
"""

from __future__ import annotations

import re

STREET_SUFFIX = (r"(?:Street|St|Avenue|Ave|Road|Rd|Boulevard|Blvd|Lane|Ln|Drive|Dr|Court|Ct|Place|Pl|Way|"
                 r"Terrace|Circle|Cir|Parkway|Pkwy|Highway|Hwy|Square|Sq|Trail|Trl|Crescent|Cres|Close|"
                 r"Grove|Gardens|Mews|Row|Hill|Walk|Park|Green|Loop|Pass|Path|Pike|Alley|Plaza|Point|"
                 r"Ridge|Run|Crossing|Estates|Heights|Station|Wharf|Radial|Expressway|Marg|Nagar|Cross|Main)")
UNIT = r"(?:Apt|Apartment|Suite|Ste|Unit|Flat|Room|Rm|Floor|Fl|#)\.?\s*#?[\w-]{1,6}"
US_STATES = ("AL AK AZ AR CA CO CT DE FL GA HI ID IL IN IA KS KY LA ME MD MA MI MN MS MO MT NE NV NH NJ NM NY NC "
             "ND OH OK OR PA RI SC SD TN TX UT VT VA WA WV WI WY DC PR").split()
US_STATE_ZIP = rf"(?:{'|'.join(US_STATES)})\s+\d{{5}}(?:-\d{{4}})?"
UK_POSTCODE = r"[A-Z]{1,2}\d[A-Z\d]?\s*\d[A-Z]{2}"
CA_POSTCODE = r"[ABCEGHJ-NPRSTVXY]\d[A-Z][ -]?\d[A-Z]\d"
AU_STATE_POSTCODE = r"(?:NSW|VIC|Vic|QLD|Qld|SA|WA|TAS|Tas|NT|ACT)\s+\d{4}"
CAP_WORD = r"[A-Z][\w'.-]*"
CITY_WORD = r"(?:[A-ZÀ-Þ][a-zà-ÿ][\w'.-]*|[A-Z]{3,}\b)"
#: postcodes of continental Europe, Latin America and Asia, before the city: "10117", "1015 CJ",
#: "00-950", "1000-001", "01310-100", "114 55", "D-10117"; four digits that could be a year are not one
POSTAL = (r"(?:[A-Z]{1,2}-)?(?:\d{5}(?:-\d{3})?|\d{4}-\d{3}|\d{4}[ \t]?[A-Z]{2}(?![\w])|\d{2}-\d{3}|\d{3}[ \t]\d{2}"
          r"|(?!19\d\d|20\d\d)\d{4})")
POSTAL_CITY = rf"{POSTAL}[ \t]+{CITY_WORD}(?:[ \t]+{CITY_WORD})?"
AU_UNIT = r"(?:(?:Unit|U|Apt|Flat|Shop|Suite|Lot)[ \t]*)?\d{1,5}[A-Za-z]?[ \t]*/[ \t]*"
# "<number> <words> <suffix>[, unit][, City][, ST 12345 | postcode]"
ADDRESS = re.compile(
    rf"(?:\b{AU_UNIT})?\b\d{{1,6}}[A-Za-z]?(?:[ \t]+(?:{CAP_WORD}|\d+\w*|of|the|de|la)){{1,5}}[ \t]+{STREET_SUFFIX}\b\.?"
    rf"(?:[ \t]+(?:[NS][EW]?|[EW])\b\.?)?(?:,?\s*{UNIT})?"
    rf"(?:,?[ \t]*\n?[ \t]*{CITY_WORD}(?:[ \t]+{CITY_WORD}){{0,2}})?"
    rf"(?:,?[ \t]*\n?[ \t]*,?[ \t]*(?:{US_STATE_ZIP}|{UK_POSTCODE}|{AU_STATE_POSTCODE}|(?:[A-Z]{{2}}[ \t]+)?{CA_POSTCODE}"
    rf"|{POSTAL_CITY}))?",
)
CONTINENTAL_STREETS = ("strasse", "straße", "str", "weg", "gasse", "platz", "allee", "damm", "ufer", "vej",
                       "veien", "vegen", "gatan", "gata", "gade", "laan", "straat", "gracht", "kade", "plein", "singel",
                       "tie", "katu", "utca", "ulica", "terrasse", "vägen", "väg")
#: words that open a street name before its number (capitalised: "via", "place", "Route 66" are not)
STREET_FIRST = (r"ul\.|al\.|Rue|Via|Viale|Calle|Avenida|Av\.|Rua|Piazza|Plac|Carrer|Strada|Travessa|Largo|Praça|"
                r"Paseo|Camino|Aleja|Unter[ \t]den")
#: street words after the number in French, Spanish and Portuguese ("12 rue de la Paix")
NUMBER_FIRST = (r"rue|avenue|boulevard|chemin|allée|impasse|quai|calle|avenida|rua|travessa|largo|paseo|camino|"
                r"carrer")
# the parts of an address that name a place on their own, each looked for when one of its words is in the text
UNIT_PARTS = re.compile(
    rf"\b(?:Apt|Apartment|Suite|Ste|Flat|House[ \t]No\.?|H\.[ \t]?No\.?|Plot[ \t]No\.?|Plot|Door[ \t]No\.?)\.?\s*#?\d{{1,5}}[A-Za-z]?\b"
    rf"|\b(?:Unit|Apt|Flat|Shop|Suite|Lot)[ \t]*\d{{1,5}}[A-Za-z]?[ \t]*/[ \t]*\d{{1,5}}[A-Za-z]?(?=[ \t]+[A-Z])"
    rf"|\b(?:PSC|Unit|CMR)\s+\d{{3,5}},?\s+Box\s+\d{{3,5}}(?:\s*\n?\s*[ADF]PO\s+A[AEP]\s+\d{{5}})?"
    rf"|\bUSS\s+{CAP_WORD}\s*\n?\s*FPO\s+A[AEP]\s+\d{{5}}"
    rf"|\b[ADF]PO\s+A[AEP]\s+\d{{5}}"
    rf"|\bP\.?[ \t]?O\.?[ \t]?Box[ \t]+\d{{1,6}}"
    rf"|\bSingapore[ \t]+\d{{6}}\b|〒[ \t]?\d{{3}}-\d{{4}}|\bpin[ \t]?code[ \t]*:?[ \t]*[1-9]\d{{5}}\b"
)
UNIT_WORDS = frozenset("apt apartment suite ste flat unit psc cmr uss apo fpo dpo singapore pincode".split())
#: words that make an address part with "no" ("House No. 12"), "box" ("PO Box"), "code" ("pin code")
UNIT_PAIRS = (({"house", "h", "plot", "door"}, "no"), ({"po", "p"}, "box"), ({"pin"}, "code"))
CONTINENTAL_HINT = re.compile(rf"(?:{'|'.join(CONTINENTAL_STREETS)}|str\.)[ \t]+\d")  # on the lower-cased text
# continental forms: "Friedhofstrasse 33, 10117 Berlin"
CONTINENTAL = re.compile(
    rf"\b(?P<street>[A-ZÄÖÜ]\w*(?:{'|'.join(CONTINENTAL_STREETS)})|[A-ZÄÖÜ]\w*str\.)[ \t]+\d{{1,5}}[a-zA-Z]?\b"
    rf"(?:,?[ \t]*{POSTAL_CITY})?")
# "ul. Zamkowa 33", "Via Roma 10", "Rue de la Paix 5"; "12 rue de la Paix, 75002 Paris"
STREET_NAMED = re.compile(
    rf"\b(?:{STREET_FIRST})[ \t]+(?:[\w'’.-]+[ \t]+){{0,4}}\d{{1,5}}[a-zA-Z]?\b(?:,?[ \t]*{POSTAL_CITY})?"
    rf"|\b\d{{1,4}}(?:[ \t]?(?:bis|ter))?,?[ \t]+(?:{NUMBER_FIRST})(?:[ \t]+(?:de|du|des|la|le|les|del|da|do|dos|das|d'|l'))*"
    rf"[ \t]+[A-ZÀ-Þ][^,.;:!?\n]{{1,45}}(?:,[ \t]*{POSTAL_CITY})?")
STREET_NAMED_WORDS = frozenset("""ul rue via viale calle avenida av rua piazza plac carrer strada travessa largo praça paseo
camino aleja al unter avenue boulevard chemin allée impasse quai""".split())
CORNER = re.compile(rf"\b(?:the\s+)?corner\s+of\s+[^,\n]{{3,50}}?\s+and\s+{CAP_WORD}(?:[ \t]+{CAP_WORD}){{0,2}}")
# postcodes of the US (with a state), Australia (with a state), the UK and Canada
POSTCODES = re.compile(rf"(?<=[,\s]){US_STATE_ZIP}\b|(?<=[,\s]){AU_STATE_POSTCODE}\b|\b{UK_POSTCODE}\b(?<=[A-Z])|\b{CA_POSTCODE}\b")
# the cheap test before POSTCODES: "IL 6"2704, "NSW 2"150, "2AA" of a UK postcode, "5H 2N" of a Canadian
# one (a digit first: a search that starts on a digit skips the rest of the text fast)
POSTCODE_HINT = re.compile(r"\d(?:[A-Z]{2}\b|[A-Z][ -]?\d[A-Z]|(?<=[A-Z][A-Z] \d)\d{3,4})")
# after a comma: "<street> <number>, <postcode> <City>" (the street is checked before the comma)
# and ", <City> <6-digit PIN>" (India, Singapore)
COMMA_POSTAL = re.compile(rf",[ \t]*(?:(?P<postal>{POSTAL_CITY})|(?P<pin>[A-Z][a-z]+(?:[ \t][A-Z][a-z]+)?[ \t]*[-–]?[ \t]*"
                          rf"[1-9]\d{{2}}[ \t]?\d{{3}})(?!\w))")
# the cheap test before COMMA_POSTAL (with six digits in a run: an Indian PIN)
COMMA_DIGIT = re.compile(r",[ \t]*(?:[A-Z]{1,2}-)?\d")
STREET_BEFORE = re.compile(r"[A-ZÄÖÜ][\w'.-]+(?:[ \t]+[\w'.-]+){0,3}[ \t]+\d{1,4}[a-zA-Z]?$")
NOT_STREETS = frozenset("""january february march april may june july august september october november december jan
feb mar apr jun jul aug sep sept oct nov dec monday tuesday wednesday thursday friday saturday sunday q1 q2 q3 q4
version v top chapter page step part level season episode""".split())
# the lines that follow an address on an envelope: "\n Suite 621\n ARENDAL\n Norway 02032"
ADDRESS_TAIL = re.compile(r"(?:[ \t]*\n[ \t]*,?[ \t]*(?:[A-ZÀÆØÅÄÖÜ][^\n.?!:;]{0,40}|\d{4,6})(?=\n|$|[.?!,]))+")
STREET_WORDS = frozenset(w.lower() for w in STREET_SUFFIX.strip("(?:)").split("|"))
ADDRESS_START = re.compile(r"\d[A-Za-z]?[ \t]+[A-Z]")


def find_addresses(text: str, lower: str, words: set[str], has_digit: bool,
                   six_digits: bool) -> list[tuple[int, int, str]]:
    """``[(start, end, "address"), ...]``; ``lower``: ``text.lower()``, ``words``: its words;
    ``six_digits``: six digits stand in a run (an Indian PIN may be there). Every form
    holds a number but "the corner of X and Y"; each pattern runs only where a cheap test
    passes (a street word, an address word, a postcode's shape, a comma before digits)."""
    if not has_digit and "corner of" not in text:
        return []
    found = []
    if not words.isdisjoint(STREET_WORDS) and ADDRESS_START.search(text):
        found += [(m.start(), m.end()) for m in ADDRESS.finditer(text)]
    if not words.isdisjoint(UNIT_WORDS) or "〒" in text or any(
            second in words and not words.isdisjoint(first) for first, second in UNIT_PAIRS):
        found += [_with_lines_before(text, m.start(), m.end()) for m in UNIT_PARTS.finditer(text)]
    if CONTINENTAL_HINT.search(lower):
        for m in CONTINENTAL.finditer(text):
            if not _english(m.group("street")):  # "Brigade 5": an English word that ends like a street
                found.append((m.start(), m.end()))
    if not words.isdisjoint(STREET_NAMED_WORDS):
        found += [(m.start(), m.end()) for m in STREET_NAMED.finditer(text)]
    if "corner of" in text:
        found += [(m.start(), m.end()) for m in CORNER.finditer(text)]
    if POSTCODE_HINT.search(text):
        # (state codes are case-sensitive: "IL 62704", never "in 2024")
        found += [_with_lines_before(text, m.start(), m.end()) for m in POSTCODES.finditer(text)]
    if "," in text and (six_digits or COMMA_DIGIT.search(text)):
        for m in COMMA_POSTAL.finditer(text):
            if m.group("pin"):
                found.append(_with_lines_before(text, m.start("pin"), m.end()))
                continue
            street = STREET_BEFORE.search(text, max(0, m.start() - 60), m.start())
            if street and street.group(0).split()[0].lower().rstrip(".") not in NOT_STREETS:
                found.append((street.start(), m.end()))
    spans: list[tuple[int, int, str]] = []
    for start, end in sorted(found):
        tail = ADDRESS_TAIL.match(text, end)  # the lines below a street on an envelope
        end = tail.end() if tail else end
        if spans and start <= spans[-1][1]:  # overlapping parts of one address ("... Parramatta NSW" + "NSW 2150")
            spans[-1] = (spans[-1][0], max(end, spans[-1][1]), "address")
        else:
            spans.append((start, end, "address"))
    return spans


def _with_lines_before(text: str, start: int, end: int) -> tuple[int, int]:
    """A postcode line after a comma takes the address lines before it."""
    return (_lines_before(text, start) if text[:start].rstrip(" \t").endswith(",") else start), end


def _english(word: str) -> bool:
    from wordfreq import zipf_frequency

    return zipf_frequency(word.lower(), "en") >= 3.0


def _lines_before(text: str, start: int, most: int = 5) -> int:
    """Where the comma-separated address lines before ``start`` begin ("Flat 302, Sai Residency,
    14th Cross, Indiranagar," before "Bengaluru 560038"): up to ``most`` short lines whose words
    all begin with a capital, a digit or "#"; the first may open with ordinary words, which stay
    ("send it to Flat 302")."""
    begin = start
    for _ in range(most):
        comma = text.rfind(",", 0, begin)
        if comma < 0 or text[comma + 1:begin].strip(" \t"):
            break
        cut = max(text.rfind(ch, 0, comma) for ch in ",.;:!?\n(")
        line = text[cut + 1:comma]
        lead = LEADING_WORDS.match(line)
        rest = line[lead.end():]
        if not rest.strip() or len(rest.strip()) > 40 or not all(w[0].isupper() or w[0].isdigit() or w[0] == "#"
                                                               for w in rest.split()):
            break
        begin = cut + 1 + lead.end()
        if lead.end() and line[:lead.end()].strip():
            break  # the line opened with ordinary words: the address starts inside it
    return begin


#: the words a line opens with before an address starts in it: "Send it to " (Flat 302)
LEADING_WORDS = re.compile(r"(?:.*[ \t(]|)(?=[a-z])[a-z][\w']*[ \t]+(?=[A-Z0-9#])|[ \t]*")
