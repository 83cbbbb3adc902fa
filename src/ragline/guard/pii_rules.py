"""ragline's own PII rules, beside Presidio's recognizers: where vanilla Presidio misses.

Written by reading the misses of vanilla Presidio on the *tuning* half of the Presidio-research
synthetic set (``benchmarks/bench_guard_pii.py``): street addresses and address blocks, phone
numbers without a country code, card numbers that fail the Luhn check, ages (in digits or
words), postal codes (after a cue, or by their US/UK/Canadian/European shape beside a place),
nationalities/religions/political groups (a word list, ``NRP_WORDS``), written dates and times,
honorifics, names after a cue ("my name is …"), organisations with a legal suffix; and, for
what a RAG deployment leaks most, credentials (API keys, tokens, passwords, private keys).

Each rule is a regular expression with a base score; a rule with cue words only scores above
the threshold when one of them is within :data:`CONTEXT_CHARS` characters before the match.
Pure Python (``re``), no Presidio import: :func:`find` returns plain spans, and
``ragline.guard.pii`` wraps them as Presidio results.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass

#: How far before a match cue words are looked for.
CONTEXT_CHARS = 40
#: What a cue word adds to a rule's base score.
CONTEXT_BOOST = 0.35

_U = "A-Z\u00c0-\u00de\u0100-\u017f\u0370-\u03ff\u0400-\u042f"  # capitals (Latin, Greek, Cyrillic)
_L = "a-z\u00df-\u00ff\u0100-\u017f\u03ac-\u03ce\u0430-\u045f"
_WORD = rf"[{_U}{_L}][{_U}{_L}'’.-]*"
_CAP = rf"[{_U}][{_U}{_L}'’.-]*"

_SUFFIX_EN = (
    r"street|st|road|rd|avenue|ave|lane|ln|drive|dr|way|court|ct|boulevard|blvd|place|pl|"
    r"terrace|square|sq|highway|hwy|parkway|pkwy|circle|cir|trail|crescent|close|row|hill|"
    r"gardens|park|alley|walk|loop|pass|plaza|ridge|run|track|union|flat|flats|forges?|"
    r"green|mews|oval|port|rise|vale|view|wharf|wells?|junction|crossing|estates?|manor"
)
# Street-name endings of other languages, glued to the name ("Loorenstrasse 149").
_SUFFIX_GLUED = (
    r"strasse|straße|stræti|gata|str\.|gasse|weg|allee|platz|ring|damm|gatan|vägen|gränd|gade|vej|"
    r"veien|vegen|gata|katu|tie|kuja|polku|laan|straat|plein|gracht|utca|útja|út|tér|ulica|"
    r"cesta|ulice|iela|gatve|tee|puiestee"
)
# Street-type words before the name ("Rue …", "ul. …").
_PREFIX = (
    r"rue|rua|avenida|av\.|calle|c/|carrer|via|viale|piazza|corso|largo|travessa|praça|"
    r"ul\.|ulica|al\.|aleja|bulevar|odos|avenue|place|chemin|boulevard|plaza|paseo|strada"
)
_UNIT = r"(?:apt\.?|apartment|suite|ste\.?|unit|flat|room|floor|fl\.)\s*#?\s*\d{1,5}[a-z]?"
_HOUSE = r"\d{1,6}[a-z]?(?:-\d{1,4})?"

_STREET_PATTERNS = [
    # 12 Main Street / 1668 Glyn St / 99449 18 McPherson Road
    rf"\b(?:{_HOUSE}\s+){{1,2}}(?:(?:{_WORD}|\d{{1,5}})\s+){{0,4}}(?:{_SUFFIX_EN})\b\.?"
    rf"(?:\s+\d{{1,5}}\b)?",
    # Árpád fejedelem útja 62. / hegyalja út 98. (a street-type word, then the number)
    rf"\b(?:{_HOUSE}\s+)?(?:{_WORD}\s+){{1,3}}(?:út|útja|utca|tér|ulica|gatan|vej|gade|"
    rf"straße|strasse|gasse|weg|laan|straat)\s+\d{{1,5}}[a-z]?\b\.?",
    # Loorenstrasse 149 / Kiannonkatu 98 / 20789 Allika 46? (glued suffix + number)
    rf"\b(?:{_HOUSE}\s+)?(?:{_WORD}\s+){{0,2}}{_WORD}(?:{_SUFFIX_GLUED})\s+\d{{1,5}}[a-z]?\b\.?",
    # Rue Hsine Eloued 20 / Rua do Arenque 1634 / ul. Miła 53 / 137 Avenue Teboulbi
    rf"(?<![\w-])(?:{_HOUSE}\s+)?(?:{_PREFIX})\s+(?:{_WORD}\s+){{0,4}}(?:{_WORD}|\d{{1,5}}[a-z]?)"
    rf"(?:\s+\d{{1,5}}[a-z]?\b)?",
    # Kálmán Imre u. 12. / Wesselényi u. 94.
    rf"\b(?:{_HOUSE}\s+)?(?:{_CAP}\s+){{1,3}}u\.\s+\d{{1,4}}\.?",
    # P.O. Box 149 / PSC 0413, Box 8144 / Unit 4719 Box 7394
    r"\b(?:p\.?\s?o\.?\s?box|psc\s+\d{3,5},?\s+box|unit\s+\d{3,5},?\s+box|box)\s+\d{1,6}\b",
    # APO AA 42323 (military)
    r"\b(?:apo|fpo|dpo)\s+(?:aa|ae|ap)\s+\d{5}\b",
    # the corner of X and Y
    rf"\bcorner of\s+(?:[\w'’.-]+\s+){{1,5}}and\s+(?:{_WORD}\s*){{1,4}}",
    # a line that is "number Name number" (European house lines: 20789 Allika 46)
    rf"(?:^|(?<=\n))[ \t]*{_HOUSE}\s+(?:{_WORD}\s+){{1,4}}\d{{1,5}}[a-z]?\.?[ \t]*(?=\n|$)",
    # 19902 Dobrovského 1394, … / 0138 Brisas 6802\n (house, name, number, then a unit or
    # the end of the line)
    rf"\b\d{{3,6}}\s+(?:{_CAP}\s+){{1,3}}\d{{1,5}}[a-z]?"
    rf"(?=[ \t]*(?:,|\n|$|(?i:apt|suite|unit|ste)\b))",
    # Apt. 595 / Suite 019
    rf"\b{_UNIT}\b",
]
_STREET = re.compile("|".join(f"(?:{p})" for p in _STREET_PATTERNS), re.IGNORECASE)

# A line (or comma part) that continues an address block: a unit, a city, a region code,
# "Country 12345", a postal code.
_PLACE_WORD = (
    rf"(?:{_CAP}|de|del|della|di|da|do|dos|du|la|le|les|van|von|der|den|nad|pod|am|an|u|y)"
)
_CONTINUATION = re.compile(
    rf"^(?:[^\w\s]{{1,3}}[ \t]*)?"  # a bullet or marker before the line ("??? ", "- ")
    rf"(?:(?i:{_UNIT})|,?\s*{_CAP}(?:[ \t]*{_PLACE_WORD}){{0,4}}[ \t]*(?:\(\w+\))?,?"
    rf"(?:[ \t]+[A-Z]{{2}})?"
    rf"(?:[ \t]+[\w-]{{3,10}})?|,?\s*(?:[A-Z]{{2}}|nan)(?:[ \t]+\d{{3,6}}(?:[ -]\d{{2,4}})?)?"
    rf"|\d{{3,6}}(?:[ -]\d{{2,4}})?)(?=[.?!,;]|\s*$)"
)


@dataclass(frozen=True, slots=True)
class RuleHit:
    entity: str
    start: int
    end: int
    score: float
    rule: str


@dataclass(frozen=True, slots=True)
class _Rule:
    name: str
    entity: str
    regex: re.Pattern[str]
    score: float
    cues: re.Pattern[str] | None = None
    validate: Callable[[str], bool] | None = None
    group: int = 0


def _cues(*words: str) -> re.Pattern[str]:
    return re.compile(r"\b(?:" + "|".join(words) + r")\b", re.IGNORECASE)


def _digits(s: str) -> str:
    return "".join(c for c in s if c.isdigit())


def _phone_ok(s: str) -> bool:
    d = _digits(s)
    return 7 <= len(d) <= 15 and len(set(d)) > 2


def _not_date(s: str) -> bool:
    return not re.fullmatch(r"\d{4}-\d{2}-\d{2}|\d{2}[./-]\d{2}[./-]\d{4}", s.strip())


#: Line labels that look like a speaker ("Phone: …") but are fields of a form.
_FIELD_LABELS = frozenset(
    [
        "phone",
        "mobile",
        "cell",
        "tel",
        "fax",
        "desk",
        "e-mail",
        "email",
        "mail",
        "website",
        "web",
        "url",
        "address",
        "date",
        "time",
        "name",
        "where",
        "when",
        "who",
        "what",
        "why",
        "how",
        "note",
        "notes",
        "subject",
        "re",
        "to",
        "from",
        "cc",
        "bcc",
        "user",
        "bot",
        "assistant",
        "system",
        "question",
        "answer",
        "q",
        "a",
        "tip",
        "warning",
        "error",
        "info",
        "id",
        "zip",
        "title",
        "company",
        "job",
        "position",
        "status",
        "summary",
        "example",
        "source",
        "reference",
        "step",
        "total",
        "price",
    ]
)
_NOT_NAMES = frozenset(
    [
        "not",
        "the",
        "a",
        "an",
        "and",
        "or",
        "but",
        "is",
        "was",
        "unknown",
        "irrelevant",
        "private",
        "secret",
        "none",
        "hidden",
        "required",
        "also",
        "still",
        "just",
        "really",
        "written",
        "spelled",
    ]
)

_PHONE_CUES = _cues(
    "phone",
    "mobile",
    "cell",
    "tel",
    "telephone",
    "call",
    "calling",
    "desk",
    "fax",
    "number",
    "reach",
    "text",
    "sms",
    "whatsapp",
    "contact",
    "answering",
    "messages?",
    "registered",
    "dial",
)
_MONTH = (
    r"(?:jan(?:uary)?|feb(?:ruary)?|mar(?:ch)?|apr(?:il)?|may|june?|july?|aug(?:ust)?|"
    r"sep(?:t(?:ember)?)?|oct(?:ober)?|nov(?:ember)?|dec(?:ember)?)\.?"
)
#: Numbers written as words, for ages ("thirty-four years old").
_NUMBER_WORD = (
    r"(?:twenty|thirty|forty|fifty|sixty|seventy|eighty|ninety)(?:[- ](?:one|two|three|four|"
    r"five|six|seven|eight|nine))?|one|two|three|four|five|six|seven|eight|nine|ten|eleven|"
    r"twelve|thirteen|fourteen|fifteen|sixteen|seventeen|eighteen|nineteen|a hundred"
)

#: Nationalities (demonyms), religions and their adherents: NRP in any case ("I am cambodian";
#: "_" stands for a space).
_NRP_TEXT = """
    afghan albanian algerian american andorran angolan argentine argentinian armenian
    australian austrian azerbaijani bahamian bahraini bangladeshi barbadian belarusian belgian
    belizean belizian beninese bhutanese bolivian bosnian botswanan brazilian british bruneian
    bulgarian burkinabe burmese burundian cambodian cameroonian canadian cape_verdean chadian
    chilean chinese colombian comorian congolese costa_rican croatian cuban cypriot czech
    danish djiboutian dominican dutch ecuadorian egyptian emirati english equatoguinean
    eritrean estonian ethiopian fijian filipino finnish french gabonese gambian georgian german
    ghanaian greek grenadian guatemalan guinean guyanese haitian honduran hungarian icelandic
    indian indonesian iranian iraqi irish israeli italian ivorian jamaican japanese jordanian
    kazakh kazakhstani kenyan kiribati korean kosovar kuwaiti kyrgyz lao laotian latvian
    lebanese liberian libyan liechtensteiner lithuanian luxembourgish macedonian malagasy
    malawian malaysian maldivian malian maltese marshallese mauritanian mauritian mexican
    micronesian moldovan monegasque mongolian montenegrin moroccan mozambican namibian nauruan
    nepalese nepali new_zealander nicaraguan nigerian nigerien north_korean norwegian omani
    pakistani palauan palestinian panamanian papua_new_guinean paraguayan peruvian polish
    portuguese qatari romanian russian rwandan salvadoran samoan saudi scottish senegalese
    serbian seychellois sierra_leonean singaporean slovak slovakian slovenian somali
    south_african south_korean south_sudanese spanish sri_lankan sudanese surinamese swazi
    swedish swiss syrian taiwanese tajik tanzanian thai togolese tongan trinidadian tunisian
    turkish turkmen tuvaluan ugandan ukrainian uruguayan uzbek vanuatuan venezuelan
    vietnamese welsh yemeni zambian zimbabwean
    arab arabic asian african european latino latina latinx hispanic caucasian kurdish
    basque catalan flemish walloon tamil punjabi bengali gujarati sikh hindu muslim moslem
    christian catholic protestant jewish jew buddhist jain atheist agnostic mormon
    lutheran methodist baptist anglican evangelical orthodox sunni shia shiite
    """
NRP_WORDS = frozenset(w.replace("_", " ") for w in _NRP_TEXT.split())
#: Political groups: NRP only when capitalised ("a Republican", not "a conservative estimate").
NRP_CAPITALISED = frozenset(
    [
        "Democrat",
        "Democrats",
        "Republican",
        "Republicans",
        "Tory",
        "Tories",
        "Labour",
        "Socialist",
        "Communist",
        "Libertarian",
        "Liberal Democrat",
        "Conservative",
        "Liberal",
    ]
)

_CARD_CUES = _cues(
    "card", "cc", "credit", "debit", "visa", "mastercard", "amex", "maestro", "billing"
)

RULES: tuple[_Rule, ...] = (
    # --- phones the phonenumbers library does not parse without a country
    _Rule(
        "phone_grouped",
        "PHONE_NUMBER",
        re.compile(
            r"(?<![\w+-])(?:\+\d{1,3}[\s.-]?)?(?:\(\d{1,4}\)[\s.-]?)?\d{2,4}(?:[\s.-]\d{2,4}){1,4}"
            r"(?:\s?(?:x|ext\.?)\s?\d{1,5})?(?![\w-])"
        ),
        0.3,
        _PHONE_CUES,
        lambda s: _phone_ok(s) and _not_date(s),
    ),
    _Rule(
        "phone_plus",
        "PHONE_NUMBER",
        re.compile(
            r"(?<![\w+])\+\d{1,3}[\s.-]?(?:\(\d{1,4}\)[\s.-]?)?\d{2,5}(?:[\s.-]?\d{2,5}){1,4}"
        ),
        0.6,
        None,
        _phone_ok,
    ),
    # --- card numbers (Presidio's recognizer wants a valid Luhn checksum)
    _Rule(
        "card_number",
        "CREDIT_CARD",
        re.compile(
            r"(?<![\w-])(?:\d{4}[ -]?){2,3}\d{4}(?:\d{1,3})?(?![\w-])|(?<![\w-])\d{12,19}(?![\w-])"
        ),
        0.3,
        _CARD_CUES,
        lambda s: 12 <= len(_digits(s)) <= 19,
    ),
    # --- ages: "79 year old", "34-year-old", "31 y/o", "aged 34", "age: 34", "at the age of
    # 34", "turned 60", "I'm 34.", "a man, 52,"; numbers written as words too
    _Rule(
        "age",
        "AGE",
        re.compile(
            rf"\b((?:{_NUMBER_WORD})|\d{{1,3}})(?=\s*(?:-|\s)?\s*(?:years?|yrs?)[\s-]*"
            r"(?:old|of age)\b|\s*y/?o\b|\s*-?\s*years?-old\b)"
            rf"|(?<=\bturned\s)(\d{{1,3}}|{_NUMBER_WORD})\b"
            rf"|(?<=\bturning\s)(\d{{1,3}}|{_NUMBER_WORD})\b"
            r"|(?<=\baged\s)(\d{1,3})\b|(?<=\bage:\s)(\d{1,3})\b|(?<=\bage\s)(\d{1,3})\b"
            r"|(?<=\bage of\s)(\d{1,3})\b|(?<=\bage\s=\s)(\d{1,3})\b"
            r"|(?<=\bhe was\s)(\d{1,3})\b(?=[.,;!]|\s*$)"
            r"|(?<=\bshe was\s)(\d{1,3})\b(?=[.,;!]|\s*$)"
            r"|(?<=\bI was\s)(\d{1,3})\b(?=[.,;!]|\s*$)"
            r"|(?<=\bI'm\s)(\d{1,3})\b(?=[.,;!]|\s*$)"
            r"|(?<=\bI am\s)(\d{1,3})\b(?=[.,;!]|\s*$)"
            r"|(?<=\bhe's\s)(\d{1,3})\b(?=[.,;!]|\s*$)"
            r"|(?<=\bshe's\s)(\d{1,3})\b(?=[.,;!]|\s*$)"
            r"|(?<=\bhe is\s)(\d{1,3})\b(?=[.,;!]|\s*$)"
            r"|(?<=\bshe is\s)(\d{1,3})\b(?=[.,;!]|\s*$)"
            # "Age 34" / "(34)" after a name is too loose; "a woman, 52," is not
            r"|\b(?:man|woman|male|female|patient|boy|girl),\s(\d{1,3})(?=,)",
            re.IGNORECASE,
        ),
        0.6,
        None,
        lambda s: not s.isdigit() or 0 < int(s) < 125,
    ),
    # --- postal codes after a cue: "ZIP: 3520", "zip code is 90210", "postcode SW1A 1AA"
    _Rule(
        "zip",
        "ZIP_CODE",
        re.compile(
            r"\b(?:zip[ -]?code|postal[ -]?code|post[ -]?code|postcode|zip|plz)"
            r"(?:\s*(?::|=|is|was)\s*|\s+)([A-Z0-9][\w-]{1,9}(?:[ ][\w]{2,4})?)\b",
            re.IGNORECASE,
        ),
        0.6,
        None,
        lambda s: any(c.isdigit() for c in s),
        1,
    ),
    # --- postal codes by their shape next to a place: "Austin, TX 78701(-1234)",
    # "London SW1A 1AA", "Toronto, ON M5V 3L9", "10115 Berlin", "Berlin 10115"
    _Rule(
        "zip_us",
        "ZIP_CODE",
        re.compile(r"(?<=[a-z.,])[ \t]*,?[ \t]*\b[A-Z]{2}[ \t]+(\d{5}(?:-\d{4})?)\b"),
        0.6,
        None,
        None,
        1,
    ),
    _Rule(
        "zip_uk",
        "ZIP_CODE",
        re.compile(r"\b([A-Z]{1,2}\d[A-Z\d]?[ \t]?\d[ABD-HJLNP-UW-Z]{2})\b"),
        0.55,
        None,
        lambda s: len(s) >= 6,
        1,
    ),
    _Rule(
        "zip_ca",
        "ZIP_CODE",
        re.compile(r"\b([ABCEGHJ-NPRSTVXY]\d[A-Z][ \t]?\d[A-Z]\d)\b"),
        0.55,
        None,
        None,
        1,
    ),
    _Rule(
        "zip_before_city",
        "ZIP_CODE",
        re.compile(
            rf"(?:^|(?<=\n)|(?<=,)|(?<=, ))[ \t]*((?:[A-Z]{{1,2}}-)?\d{{4,5}}|\d{{3}}[ ]\d{{2}})"
            rf"[ \t]+{_CAP}(?:[ -]{_CAP}){{0,2}}[ \t]*(?=,|\n|$|\.)"
        ),
        0.55,
        None,
        None,
        1,
    ),
    _Rule(
        "zip_after_place",
        "ZIP_CODE",
        re.compile(
            rf"\b[{_U}][{_L}]+,?[ \t]+(\d{{4,6}}(?:-\d{{3,4}})?)[ \t]*(?=\n|$|,[ \t]*{_CAP})"
        ),
        0.4,
        None,
        lambda s: not re.fullmatch(r"(?:19|20)\d{2}", s),
        1,
    ),
    # --- nationalities, religions, political groups (spaCy's NORP misses them in lower case
    # and after "I am"); the word list is in ragline.guard.pii_rules.NRP_WORDS
    _Rule(
        "nrp_word",
        "NRP",
        re.compile(
            # not a language: "in English", "into French", "speak Spanish"
            r"(?<![\w-])(?<!\bin )(?<!\binto )(?<!\bspeak )(?<!\bspeaks )(?<!\bfrom )((?i:"
            + "|".join(sorted(NRP_WORDS, key=len, reverse=True))
            + r")"
            r"|" + "|".join(sorted(NRP_CAPITALISED, key=len, reverse=True)) + r")(?![\w-])"
        ),
        0.45,
        None,
        None,
        1,
    ),
    # --- dates and times in common written forms (spaCy misses ISO timestamps and digits)
    _Rule(
        "date",
        "DATE_TIME",
        re.compile(
            r"\b\d{4}-\d{2}-\d{2}(?:[ T]\d{2}:\d{2}(?::\d{2})?(?:Z|[+-]\d{2}:?\d{2})?)?\b"
            r"|\b\d{1,2}[/.]\d{1,2}[/.](?:\d{4}|\d{2})\b"
            rf"|\b\d{{1,2}}(?:st|nd|rd|th)?\s+(?:of\s+)?{_MONTH}(?:,?\s+\d{{4}})?\b"
            rf"|\b{_MONTH}\s+\d{{1,2}}(?:st|nd|rd|th)?\b(?:,?\s+\d{{4}}\b)?"
            rf"|\b(?:in|since|until|of|from)\s+{_MONTH}\s+(?:19|20)\d{{2}}\b"
            r"|\b\d{1,2}:\d{2}(?::\d{2})?(?:\s?[ap]\.?m\.?)?(?!\d)"
            r"|\b\d{1,2}\s?[ap]\.?m\.?(?!\w)",
            re.IGNORECASE,
        ),
        0.85,  # as spaCy scores its dates: on a tie the longer span wins
    ),
    # --- honorifics before a capitalised name
    _Rule(
        "honorific",
        "TITLE",
        re.compile(rf"\b(?:Mr|Mrs|Ms|Miss|Dr|Prof|Sr|Sra|Mme|Mlle|Herr|Frau)\.?(?=\s+{_CAP})"),
        0.5,
    ),
    # --- names after a cue
    _Rule(
        "name_cue",
        "PERSON",
        re.compile(
            rf"(?i:\bmy name is|\bname:|\bi am|\bi'm|\bthis is|\bname on the account is|"
            rf"\bchange it to|\bcorrect it to|\bunder|\bspeak to|\bfollow up with|\bsaid|\bto)"
            rf"\s+((?:(?:Mr|Mrs|Ms|Dr)\.?\s+)?{_CAP}(?:\s+(?:[A-Z]\.?|{_CAP})){{0,3}})",
        ),
        0.55,
        None,
        None,
        1,
    ),
    # --- a speaker at the start of a line of dialogue ("Nicole: Remember me?")
    _Rule(
        "speaker",
        "PERSON",
        re.compile(rf"(?:^|(?<=\n))[ \t]*({_CAP}(?:[ \t]{_CAP})?):[ \t]+(?=[\"'“A-Z])"),
        0.55,
        None,
        lambda s: s.casefold() not in _FIELD_LABELS,
        1,
    ),
    _Rule(
        "name_lower",
        "PERSON",
        re.compile(r"(?i:\bmy name is)\s+([a-z\u00df-\u017f]{2,}(?:\s+[a-z\u00df-\u017f]{2,})?)\b"),
        0.5,
        None,
        lambda s: s.split()[0] not in _NOT_NAMES,
        1,
    ),
    # --- organisations with a legal suffix
    _Rule(
        "org_suffix",
        "ORGANIZATION",
        re.compile(
            rf"\b(?:{_CAP}\s+){{0,3}}{_CAP}\s+(?:Inc|LLC|Ltd|Corp|Corporation|Group|GmbH|AG|SA|"
            rf"S\.A\.|PLC|plc|Co|Company|Holdings|Partners|Associates|Insurance|Bank|"
            rf"Technologies|Solutions|Systems|Labs|Foundation)\b\.?"
        ),
        0.6,
    ),
    # --- credentials
    _Rule(
        "api_key_prefixed",
        "API_KEY",
        re.compile(
            r"\b(?:sk|pk|rk)[-_](?:live|test|proj|ant)?[-_]?[A-Za-z0-9_-]{16,}"
            r"|\bAKIA[0-9A-Z]{16}\b|\bASIA[0-9A-Z]{16}\b"
            r"|\bgh[pousr]_[A-Za-z0-9]{30,}\b|\bgithub_pat_[A-Za-z0-9_]{40,}"
            r"|\bxox[abposr]-[A-Za-z0-9-]{10,}|\bAIza[0-9A-Za-z_-]{35}"
            r"|\bglpat-[A-Za-z0-9_-]{20}|\bhf_[A-Za-z0-9]{30,}"
            r"|\beyJ[A-Za-z0-9_-]{8,}\.eyJ[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]{8,}"
        ),
        0.9,
    ),
    _Rule(
        "private_key",
        "API_KEY",
        re.compile(
            r"-----BEGIN (?:[A-Z]+ )?PRIVATE KEY-----[\s\S]*?"
            r"(?:-----END (?:[A-Z]+ )?PRIVATE KEY-----|$)"
        ),
        1.0,
    ),
    _Rule(
        "secret_assignment",
        "PASSWORD",
        re.compile(
            r"\b(?:password|passwd|pwd|passcode|pass|secret|api[_ -]?key|access[_ -]?key|"
            r"auth[_ -]?token|token|client[_ -]?secret)\b\s*(?:is|=|:)\s*[\"']?([^\s\"',;]{4,})",
            re.IGNORECASE,
        ),
        0.7,
        None,
        lambda s: s.lower() not in {"required", "none", "null", "empty", "missing", "incorrect"},
        1,
    ),
    _Rule(
        "connection_string",
        "PASSWORD",
        re.compile(r"\b[a-z][a-z0-9+.-]*://[^\s:/@]+:([^\s@/]+)@", re.IGNORECASE),
        0.8,
        None,
        None,
        1,
    ),
)


def _context_ok(text: str, start: int, cues: re.Pattern[str]) -> bool:
    return cues.search(text, max(0, start - CONTEXT_CHARS), start) is not None


def _rule_hits(text: str) -> Iterator[RuleHit]:
    for rule in RULES:
        for m in rule.regex.finditer(text):
            group = rule.group or next((i for i, g in enumerate(m.groups(), 1) if g), 0)
            start, end = m.span(group)
            value = text[start:end].strip()
            if not value or (rule.validate and not rule.validate(value)):
                continue
            end = start + len(text[start:end].rstrip())
            score = rule.score
            if rule.cues is not None and _context_ok(text, start, rule.cues):
                score = min(1.0, score + CONTEXT_BOOST)
            yield RuleHit(rule.entity, start, end, score, rule.name)


def _extend_block(text: str, end: int) -> int:
    """Extend an address through what continues it: comma parts on its own line, then whole
    lines (a unit, a city, a region code, "Country 12345"), one blank line allowed between."""
    nl = text.find("\n", end)
    line_end = len(text) if nl < 0 else nl
    while text[end:line_end].strip():  # comma parts on the same line: ", Tallinn, Estonia"
        rest = text[end:line_end]
        m = _CONTINUATION.match(rest.lstrip())
        if not m or not m.end():
            return end  # the line goes on with something else
        end += len(rest) - len(rest.lstrip()) + m.end()
    pos, blank = line_end + 1, 0
    while pos < len(text):
        nl = text.find("\n", pos)
        line_end = len(text) if nl < 0 else nl
        piece = text[pos:line_end]
        if not piece.strip():
            blank += 1
            if blank > 1:
                break
        elif len(piece) <= 60 and (m := _CONTINUATION.match(piece.strip())):
            end, blank = pos + (len(piece) - len(piece.lstrip())) + m.end(), 0
        else:
            break
        pos = line_end + 1
    return end


_ANCHOR = re.compile(r"\d|corner of", re.IGNORECASE)


def _regions(text: str) -> list[tuple[int, int]]:
    """Where an address can be: around a digit or "corner of" (each street pattern holds
    one), so prose without numbers costs one scan, not the whole pattern set."""
    out: list[tuple[int, int]] = []
    for m in _ANCHOR.finditer(text):
        start, end = max(0, m.start() - 160), min(len(text), m.end() + 160)
        if out and start <= out[-1][1]:
            out[-1] = (out[-1][0], end)
        else:
            out.append((start, end))
    return out


def _street_matches(text: str) -> Iterator[re.Match[str]]:
    last = -1
    for r_start, r_end in _regions(text):
        for m in _STREET.finditer(text, r_start, r_end):
            if m.start() > last:
                last = m.end()
                yield m


def _addresses(text: str) -> Iterator[RuleHit]:
    spans: list[tuple[int, int]] = []
    for m in _street_matches(text):
        start, end = m.start(), m.start() + len(m.group().rstrip())
        if spans and start <= spans[-1][1] + 2:  # glue neighbouring pieces of one address
            spans[-1] = (spans[-1][0], max(end, spans[-1][1]))
        else:
            spans.append((start, end))
    merged: list[tuple[int, int]] = []
    for start, end in spans:
        end = _extend_block(text, end)
        if merged and start <= merged[-1][1] + 3:
            merged[-1] = (merged[-1][0], max(end, merged[-1][1]))
        else:
            merged.append((start, end))
    for start, end in merged:
        while end > start and text[end - 1] in " \t\n,;":
            end -= 1
        yield RuleHit("STREET_ADDRESS", start, end, 0.85, "street_address")


_FIELD_LINE = re.compile(
    r"^[^\w\n]{0,3}[ \t]*(?:personal info|phone|mobile|cell|tel|e-?mail|address|website)"
    r"[ \t]*:",
    re.IGNORECASE,
)
_MARKER = re.compile(r"^[^\w\n]{0,3}[ \t]*")


def _contact_block(text: str, addresses: list[RuleHit]) -> Iterator[RuleHit]:
    """The short lines heading a contact card (a signature, a letterhead): the name, then the
    job title, then the company on the line right above the address.

        Karin M. Beike            -> PERSON
        Leasing consultant        -> TITLE
        Fritz-Armstrong           -> ORGANIZATION
        Doko and ul. Mila 53      (the address, or a "Phone:" / "E-mail:" line)
    """
    lines: list[tuple[int, str]] = []
    pos = 0
    for line in text.split("\n"):
        lines.append((pos, line))
        pos += len(line) + 1
    starts = {a.start for a in addresses}
    anchor, by_address = None, False
    for i, (at, line) in enumerate(lines):
        body = at + _MARKER.match(line).end()  # type: ignore[union-attr]
        if body in starts:
            anchor, by_address = i, True
            break
        if _FIELD_LINE.match(line):
            anchor = i
            break
    if not anchor:
        return
    head = [(at, line) for at, line in lines[:anchor] if line.strip()]
    if not 1 <= len(head) <= 4:
        return
    for _, line in head:
        if len(line) > 60 or len(line.split()) > 8 or any(c.isdigit() or c == "@" for c in line):
            return
    for k, (at, line) in enumerate(head):
        start = at + _MARKER.match(line).end()  # type: ignore[union-attr]
        end = at + len(line.rstrip())
        if k == 0:
            label = "PERSON"
        elif by_address and k == len(head) - 1:
            label = "ORGANIZATION"
        else:
            label = "TITLE"
        yield RuleHit(label, start, end, 0.5, "contact_block")


def find(text: str) -> list[RuleHit]:
    """Every rule's hits in ``text`` (overlapping hits are resolved by the caller)."""
    addresses = list(_addresses(text))
    return [*_rule_hits(text), *addresses, *_contact_block(text, addresses)]
