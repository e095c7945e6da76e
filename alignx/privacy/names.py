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
TITLE_NAME = re.compile(rf"\b(?:{'|'.join(TITLES)})\.?[ \t]+(?:{CAP})(?:[ \t]+(?:{CAP}))?\b")
CUE_NAME = re.compile(
    rf"\b(?:(?:[Mm]y|[Oo]ur|[Hh]is|[Hh]er|[Tt]heir)[ \t]+(?:{'|'.join(CUE_NOUNS)})(?:'s)?,?|named|called|"
    rf"(?:[Hh]is|[Hh]er|[Mm]y)[ \t]+name[ \t]+(?:is|was))[ \t]+((?:{CAP})(?:[ \t]+(?:{CAP}))?)\b")
TOKEN = re.compile(rf"{CAP}")
#: Capitalised words that are first names in some locale but mostly something else in English text
NOT_NAMES = frozenset("""january february march april may june july august september october november december
jan feb mar apr jun jul aug sep sept oct nov dec monday tuesday wednesday thursday friday saturday sunday
america europe asia africa india china korea japan russia ukraine israel jesus christ god allah lord imo
solana cardano claude gemini siri alexa bitcoin ether maxi""".split())
LOWER_WORD = re.compile(r"(?<![\w@/#.-])[a-z]{3,}(?![\w@/.-])")


def _zipf():
    from alignx.privacy import _zipf as zipf

    return zipf()


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


class PersonNames:
    """Finds person names by list and cue; ``find(text)`` gives ``[(start, end), ...]``."""

    def __init__(self, surname_zipf: float = 4.0, lower_zipf: float = 3.5):
        """``surname_zipf``: a lone capitalised surname counts when its wordfreq Zipf frequency is
        below this; ``lower_zipf``: the same for a lower-case first name ("tyler")."""
        first, last, words = name_lists()
        zipf = _zipf()
        # a very common English word never starts a name ("My", "Will", "May" are names somewhere)
        common = {w for w in first | last if w in words and zipf(w, "en") >= 5.0}
        self.first, self.last, self.words = first - NOT_NAMES - common, last - NOT_NAMES - common, words
        self.surname_zipf = surname_zipf
        self.lower_zipf = lower_zipf
        self.titles = {t.lower() for t in TITLES}

    def _is_first(self, token: str) -> bool:
        return token.lower() in self.first

    def _is_surname_like(self, token: str) -> bool:
        low = token.lower()
        return low in self.last or (low not in self.words and low not in self.first and low not in self.titles)

    def find(self, text: str) -> list[tuple[int, int]]:
        spans: list[tuple[int, int]] = []
        for m in TITLE_NAME.finditer(text):
            spans.append((m.start(), m.end()))
        for m in CUE_NAME.finditer(text):
            spans.append((m.start(1), m.end(1)))
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
                elif tok.lower() in self.last and tok.lower() not in self.words and self._rare(tok):
                    spans.append((start, end))
                i += 1
        for m in LOWER_WORD.finditer(text):
            low = m.group(0)
            if len(low) >= 4 and low in self.first and low not in self.words and self._rare(low, self.lower_zipf):
                spans.append((m.start(), m.end()))
        return spans

    def _rare(self, token: str, threshold: float | None = None) -> bool:
        """Not a word seen often in English text ("Poland", "French" are surnames too)."""
        return _zipf()(token.lower(), "en") < (self.surname_zipf if threshold is None else threshold)
