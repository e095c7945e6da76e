"""Names of people that no author dictionary knows: "John Smith", "Dr. Okafor", "my neighbour Priya".

No statistical NER model installs from PyPI here without fetching weights at run time, so this
is a name list plus context cues, tuned for precision (an ordinary capitalised word such as
"Will", "Grace" or "Hope" on its own is left alone):

- **Full names**: a capitalised known first name followed by a capitalised known surname, or by
  a capitalised word that is not an English word ("Margaret Okonkwo-Baptiste"); a third name
  joins when it is a known surname too.
- **Titles**: "Mr", "Mrs", "Ms", "Dr", "Prof", "Officer", ... followed by capitalised words.
- **Cues**: "my neighbour/wife/boss/...", "named", "called", "his name is" followed by a
  capitalised word.
- **Lone first names** that are not English words ("Tyler", "Priya", but not "Will" or "Rose").

The lists: first and last names of Faker's person providers (many locales; ASCII only), and
English words from english-words' copy of Webster's Second (lower case entries only: proper
nouns are capitalised there). What this misses: lower-case names ("emma"), lone surnames ("Trump"),
nicknames and handles that are not in any list, and names that are also English words when
they stand alone.
"""

from __future__ import annotations

import importlib
import re
from functools import lru_cache

#: Faker locales whose person providers feed the first- and last-name lists.
NAME_LOCALES = ("en", "en_US", "en_GB", "en_IN", "en_IE", "en_NZ", "en_KE", "en_NG", "en_PK", "es", "es_ES",
                "es_MX", "es_AR", "fr_FR", "fr_CA", "de_DE", "it_IT", "pt_BR", "pt_PT", "nl_NL", "pl_PL",
                "sv_SE", "tr_TR", "fi_FI", "da_DK", "no_NO", "cs_CZ", "hu_HU", "ro_RO", "hr_HR", "ga_IE",
                "yo_NG", "ig_NG", "ha_NG", "tw_GH", "zu_ZA", "sw", "hi_IN", "ta_IN", "gu_IN", "mr_IN",
                "bn_BD", "ne_NP", "id_ID", "vi_VN", "ar_AA", "fa_IR", "he_IL", "ru_RU", "uk_UA")
TITLES = ("Mr", "Mrs", "Ms", "Miss", "Mx", "Dr", "Prof", "Professor", "Sir", "Dame", "Lord", "Lady",
          "Officer", "Detective", "Sgt", "Sergeant", "Captain", "Capt", "Judge", "Rev", "Reverend",
          "Father", "Sister", "Brother", "Aunt", "Auntie", "Uncle", "Grandma", "Grandpa", "Coach", "Nurse")
CUE_NOUNS = ("neighbour", "neighbor", "wife", "husband", "partner", "girlfriend", "boyfriend", "fiance",
             "fiancee", "boss", "manager", "coworker", "co-worker", "colleague", "friend", "roommate",
             "landlord", "landlady", "son", "daughter", "brother", "sister", "mom", "mum", "mother", "dad",
             "father", "cousin", "aunt", "uncle", "nephew", "niece", "grandma", "grandpa", "grandmother",
             "grandfather", "teacher", "doctor", "therapist", "ex", "kid", "baby", "buddy", "bf", "gf")
CAP = r"[A-Z][a-z]+(?:[-'][A-Z]?[a-z]+)*|Mc[A-Z][a-z]+|O'[A-Z][a-z]+"
CAP_RUN = re.compile(rf"\b(?:{CAP})(?:[ \t]+(?:{CAP}))*\b")
TITLE_NAME = re.compile(rf"\b(?:{'|'.join(TITLES)})(?:[ \t]?\.)?[ \t]+(?:{CAP})(?:[ \t]+(?:{CAP}))?\b")
CUE_NAME = re.compile(
    rf"\b(?:(?:[Mm]y|[Oo]ur|[Hh]is|[Hh]er|[Tt]heir)[ \t]+(?:{'|'.join(CUE_NOUNS)})(?:'s)?,?|named|called|"
    rf"(?:[Hh]is|[Hh]er|[Mm]y)[ \t]+name[ \t]+(?:is|was))[ \t]+((?:{CAP})(?:[ \t]+(?:{CAP}))?)\b")
TOKEN = re.compile(rf"{CAP}")
#: Capitalised words that are first names in some locale but mostly something else in English text
NOT_NAMES = frozenset("""january february march april may june july august september october november december
jan feb mar apr jun jul aug sep sept oct nov dec monday tuesday wednesday thursday friday saturday sunday
america europe asia africa india china korea japan russia ukraine israel jesus christ god allah lord imo
solana cardano claude gemini siri alexa bitcoin ether maxi christmas easter halloween thanksgiving xmas""".split())
WORD = re.compile(r"[a-z]+")
LOWER_WORD = re.compile(r"(?<![\w@/#.-])[a-z]{3,}(?![\w@/.-])")


def _zipf():
    from wordfreq import zipf_frequency  # imported when first needed: its lists take a while to load

    return zipf_frequency


@lru_cache(maxsize=1)
def name_lists() -> tuple[frozenset[str], frozenset[str], frozenset[str]]:
    """(first names, last names, English words), all lower case."""
    first: set[str] = set()
    last: set[str] = set()
    for locale in NAME_LOCALES:
        provider = importlib.import_module(f"faker.providers.person.{locale}").Provider
        for attr in ("first_names", "first_names_male", "first_names_female"):
            first.update(n.lower() for n in getattr(provider, attr, ()) if n.isascii() and n.isalpha())
        last.update(n.lower() for n in getattr(provider, "last_names", ()) if n.isascii())
    from english_words import get_english_words_set

    # Webster's Second (web2) keeps proper nouns capitalised: a lower-case entry is an ordinary word
    words = frozenset(w for w in get_english_words_set(["web2"], lower=False, alpha=True) if w.islower())
    return frozenset(first), frozenset(last), words


#: Locales whose first names are looked for in lower case ("emma", "ryan"): the English-speaking ones
LOWER_LOCALES = ("en", "en_US", "en_GB", "en_IE", "en_NZ", "en_IN", "en_PK", "en_KE", "en_NG")
#: Words said to someone by name: "thanks Bill", "hey amber", "Great video Shan !"
VOCATIVE = re.compile(
    rf"\b(?:[Tt]hanks?|[Tt]hank[ \t]+you|[Hh]i|[Hh]ey|[Hh]ello|[Bb]ye|[Cc]ongrats|[Dd]ear|[Ll]ove[ \t]+you|"
    rf"[Ww]ell[ \t]+done|[Gg]ood[ \t]+(?:job|luck|video)|[Gg]reat[ \t]+(?:job|video)|[Hh]appy[ \t]+birthday|"
    rf"[Mm]iss[ \t]+you|[Pp]oor|[Gg]o)[ \t,]+({CAP}|[a-z]{{3,}})(?=[ \t]*(?:[!.,?)]|$|\n))")
#: What follows a person at the start of a sentence: "Bill is from ...", "Tanner was right"
SUBJECT_VERB = re.compile(r"[ \t]+(?:is|was|has|had|says|said|did|does|looks|got|and[ \t]+I|'s)\b")
#: Slang that name lists of other languages happen to hold ("a lotta", "gotta")
SLANG = frozenset("lotta gotta gonna wanna kinda sorta dunno outta lemme gimme tryna finna".split())
#: "my name is krithika", "where's kishan ?": a name in lower case after a cue that wants a person
LOWER_CUE = re.compile(r"\b(?:[Mm]y|[Hh]is|[Hh]er)[ \t]+name[ \t]+(?:is|was)[ \t]+([a-z]{3,})\b|"
                       r"\b[Ww]here[ \t]*(?:'[ \t]*s|[ \t]is)[ \t]+([A-Za-z]{2,})[ \t]*\?")
#: a full name in lower case: "paul walker", "kevin smith"
LOWER_PAIR = re.compile(r"(?<![\w@/#.-])([a-z]{3,})[ \t]+([a-z]{3,})(?![\w@/-])")
COORD_AFTER = re.compile(r"[ \t]+(?:and|&)[ \t]+([A-Za-z][a-z]{2,})\b")
COORD_BEFORE = re.compile(r"\b([A-Za-z][a-z]{2,})[ \t]+(?:and|&)[ \t]+$")
VOCATIVE_WORDS = frozenset("thanks thank hi hey hello bye congrats dear love well good great happy miss poor go".split())
MARKUP = " \t*_#>~`-"
SENTENCE_END = frozenset(".!?:;\n\"([")
CAP_TOKEN = re.compile(r"\b[A-Z][a-z]+\b")


@lru_cache(maxsize=1)
def english_first_names() -> frozenset[str]:
    """First names of the English-speaking locales of Faker, lower case."""
    names: set[str] = set()
    for locale in LOWER_LOCALES:
        provider = importlib.import_module(f"faker.providers.person.{locale}").Provider
        for attr in ("first_names", "first_names_male", "first_names_female"):
            names.update(n.lower() for n in getattr(provider, attr, ()) if n.isascii() and n.isalpha())
    return frozenset(names)


class PersonNames:
    """Finds person names by list and cue; ``find(text)`` gives ``[(start, end), ...]``."""

    def __init__(self, surname_zipf: float = 4.0, lower_zipf: float = 4.7, word_name_zipf: float = 5.3,
                 lower_pair_zipf: float = 4.5):
        """``surname_zipf``: a lone capitalised surname counts when its wordfreq Zipf frequency is
        below this; ``lower_zipf``: the same for a lower-case English first name ("tyler");
        ``word_name_zipf``: first names that are also English words ("Bill", "Grace") count
        with a cue (mid-sentence capital, a greeting, "X is ...") when below this;
        ``lower_pair_zipf``: a lower-case first name before a surname ("paul walker") when below this."""
        first, last, words = name_lists()
        zipf = _zipf()
        # a very common English word never starts a name ("My", "Will", "May" are names somewhere)
        common = {w for w in first | last if w in words and zipf(w, "en") >= word_name_zipf}
        self.first, self.last, self.words = first - NOT_NAMES - common, last - NOT_NAMES - common, words
        # Webster's Second lists no plurals or verb forms: "banks", "burns" are words too
        self.lower_first = frozenset(n for n in english_first_names() - NOT_NAMES - SLANG - words
                                     if len(n) >= 4 and zipf(n, "en") < lower_zipf
                                     and not (n.endswith("s") and n[:-1] in words))
        self.surname_zipf = surname_zipf
        # lower-case full names: any English first name, then a surname rarer than this
        self.lower_all = frozenset(n for n in english_first_names() - NOT_NAMES - SLANG
                                   if len(n) >= 3 and zipf(n, "en") < lower_pair_zipf)
        self.lower_surname_zipf = 4.0
        self.titles = {t.lower() for t in TITLES}
        # the cheap pre-check: a text with none of these words (any case) holds no name we would find
        self.cap_names = self.first | self.last
        self.cue_words = frozenset(CUE_NOUNS) | {"named", "called", "name"}
        self.triggers = self.first | self.last | self.lower_first | self.titles | self.cue_words | {"where"}

    def _is_first(self, token: str) -> bool:
        return token.lower() in self.first

    def _is_surname_like(self, token: str) -> bool:
        low = token.lower()
        return low in self.last or (low not in self.words and low not in self.first and low not in self.titles
                                    and low not in NOT_NAMES)

    def find(self, text: str, words: set[str] | None = None) -> list[tuple[int, int]]:
        """``words``: the text's lower-cased words when the caller has them (the cheap pre-check:
        no word of any name list, title or cue among them means no name to find)."""
        lower_tokens = set(WORD.findall(text.lower())) if words is None else words
        if lower_tokens.isdisjoint(self.triggers):
            return []
        names = lower_tokens & self.cap_names  # list names, in any case
        titled = not lower_tokens.isdisjoint(self.titles)
        cued = not lower_tokens.isdisjoint(self.cue_words)
        caps = CAP_TOKEN.findall(text) if names or titled or cued else ()
        cap_low = {c.lower() for c in caps}
        spans: list[tuple[int, int]] = []
        if titled and not cap_low.isdisjoint(self.titles):
            for m in TITLE_NAME.finditer(text):
                if not self._ordinary(m.group(0).split()[-1]):  # "Mr. President" names an office
                    spans.append((m.start(), m.end()))
        if caps and cued:
            for m in CUE_NAME.finditer(text):
                spans.append((m.start(1), m.end(1)))
        if (names or not lower_tokens.isdisjoint(self.lower_first)) and not lower_tokens.isdisjoint(VOCATIVE_WORDS):
            for m in VOCATIVE.finditer(text):
                low = m.group(1).lower()
                if low in self.first or low in self.lower_first:
                    spans.append((m.start(1), m.end(1)))
        if not cap_low.isdisjoint(names):
            self._capitalised(text, spans, shouting=len(caps) > 0.5 * max(1, len(lower_tokens)))
        if "name" in lower_tokens or "where" in lower_tokens:
            for m in LOWER_CUE.finditer(text):
                g = 1 if m.group(1) else 2
                low = m.group(g).lower()
                if (low not in self.words or low in self.first) and self._rare(low, 4.5):
                    spans.append((m.start(g), m.end(g)))
        if names and not lower_tokens.isdisjoint(self.lower_all) and not lower_tokens.isdisjoint(self.last):
            for m in LOWER_PAIR.finditer(text):
                a, b = m.group(1), m.group(2)
                if a in self.lower_all and b in self.last and self._rare(b, self.lower_surname_zipf):
                    spans.append((m.start(), m.end()))
        for name in lower_tokens & self.lower_first:  # only where written in lower case
            for m in re.finditer(rf"(?<![\w@/#.-]){name}(?![\w@/.-])", text):
                spans.append((m.start(), m.end()))
        return spans + self._coordinated(text, spans) if spans else spans

    def _capitalised(self, text: str, spans: list, shouting: bool) -> None:
        """Runs of capitalised words: first name + surname(s), lone unambiguous names. ``shouting``:
        the text capitalises most words, so a capital is no cue."""
        for m in CAP_RUN.finditer(text):
            tokens = [(t.start() + m.start(), t.end() + m.start(), t.group(0)) for t in TOKEN.finditer(m.group(0))]
            i = 0
            while i < len(tokens):
                start, end, tok = tokens[i]
                if self._is_first(tok):
                    j = i + 1
                    if j < len(tokens) and self._is_surname_like(tokens[j][2]):
                        end = tokens[j][1]
                        j += 1
                        if j < len(tokens) and tokens[j][2].lower() in self.last:
                            end = tokens[j][1]
                            j += 1
                        spans.append((start, end))
                        i = j
                        continue
                    if tok.lower() not in self.words:
                        spans.append((start, end))
                    elif len(tokens) == 1 and not shouting and self._cued(text, start, end):
                        spans.append((start, end))  # "Poor Jimmy", "Bill is from the labyrinth"
                elif tok.lower() in self.last and tok.lower() not in self.words and self._rare(tok):
                    spans.append((start, end))
                i += 1

    def _coordinated(self, text: str, spans: list[tuple[int, int]]) -> list[tuple[int, int]]:
        """A word joined to a found name by "and" or "&" is a name too ("Jay & Trish", "emma and
        kaite"), when it is written the same way (capitalised or not) and is no English word."""
        more = []
        for start, end in spans:
            after = COORD_AFTER.match(text, end)
            if after and self._joinable(after.group(1), text[start]):
                more.append((after.start(1), after.end(1)))
            before = COORD_BEFORE.search(text, 0, start)
            if before and before.end() == start and self._joinable(before.group(1), text[start]):
                more.append((before.start(1), before.end(1)))
        return more

    def _joinable(self, word: str, like: str) -> bool:
        low = word.lower()
        return (word[0].isupper() == like.isupper() and low not in self.titles
                and (low in self.first or low in self.lower_all or low not in self.words) and self._rare(word, 3.5))

    @staticmethod
    def _cued(text: str, start: int, end: int) -> bool:
        """A capitalised first name that is also a word is a name mid-sentence (an ordinary word
        would be in lower case there), or at a sentence's start when a verb follows."""
        before = text[:start].rstrip(MARKUP)  # "**Edit**:", "> Price ..." start a line too
        if before and before[-1] not in SENTENCE_END:
            return True
        return SUBJECT_VERB.match(text, end) is not None

    def _ordinary(self, word: str) -> bool:
        low = word.lower()
        return low in self.words and low not in self.first and low not in self.last

    def _rare(self, token: str, threshold: float | None = None) -> bool:
        """Not a word seen often in English text ("Poland", "French" are surnames too)."""
        return _zipf()(token.lower(), "en") < (self.surname_zipf if threshold is None else threshold)
