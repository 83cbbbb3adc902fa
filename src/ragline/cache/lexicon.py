"""The word lists of the near-miss gate (:mod:`ragline.cache.gate`): stop words, negations,
antonyms, numbers, dates and units, synonyms, irregular verbs, the nouns of question types,
demonyms. Plain data, kept apart from the rules that read it."""

from __future__ import annotations

import re


def _words(text: str) -> list[str]:
    return text.split()


STOPWORDS = frozenset(
    _words(
        """a an the of in on at to for from by with about as into onto over under is are was were
        be been being am do does did done doing have has had having will would shall should can
        could may might must i me my we our you your he him his she her it its they them their
        this that these those there here and or but if then so than too very just also any some
        such own same what which who whom whose when where why how s t please tell know explain
        describe give name list show find get got much many one ones thing things way ways kind
        type sort exactly really actually currently usually generally typically"""
    )
)

NEGATIONS = frozenset(
    _words("""not no never without none nobody nothing neither nor cannot cant can't don't doesn't
    didn't isn't aren't wasn't weren't won't wouldn't shouldn't couldn't hasn't haven't hadn't
    mustn't except excluding lack lacking""")
)

_ANTONYMS = [
    ("enable", "disable"),
    ("enabled", "disabled"),
    ("allow", "deny"),
    ("allow", "forbid"),
    ("allowed", "forbidden"),
    ("allowed", "prohibited"),
    ("permitted", "prohibited"),
    ("include", "exclude"),
    ("included", "excluded"),
    ("increase", "decrease"),
    ("increases", "decreases"),
    ("raise", "lower"),
    ("before", "after"),
    ("earlier", "later"),
    ("earliest", "latest"),
    ("first", "last"),
    ("more", "less"),
    ("most", "least"),
    ("more", "fewer"),
    ("maximum", "minimum"),
    ("max", "min"),
    ("highest", "lowest"),
    ("higher", "lower"),
    ("largest", "smallest"),
    ("larger", "smaller"),
    ("biggest", "smallest"),
    ("bigger", "smaller"),
    ("longest", "shortest"),
    ("longer", "shorter"),
    ("hottest", "coldest"),
    ("hotter", "colder"),
    ("hot", "cold"),
    ("warmest", "coldest"),
    ("best", "worst"),
    ("better", "worse"),
    ("above", "below"),
    ("over", "under"),
    ("inside", "outside"),
    ("open", "close"),
    ("start", "stop"),
    ("start", "end"),
    ("begin", "end"),
    ("add", "remove"),
    ("install", "uninstall"),
    ("encrypt", "decrypt"),
    ("lock", "unlock"),
    ("import", "export"),
    ("connect", "disconnect"),
    ("accept", "reject"),
    ("approve", "reject"),
    ("win", "lose"),
    ("won", "lost"),
    ("buy", "sell"),
    ("true", "false"),
    ("success", "failure"),
    ("succeed", "fail"),
    ("pass", "fail"),
    ("up", "down"),
    ("on", "off"),
    ("upload", "download"),
    ("send", "receive"),
    ("sent", "received"),
    ("arrive", "depart"),
    ("arrival", "departure"),
    ("north", "south"),
    ("east", "west"),
    ("left", "right"),
    ("inbound", "outbound"),
    ("domestic", "international"),
    ("cheapest", "most"),
    ("internal", "external"),
    ("public", "private"),
    ("always", "never"),
    ("positive", "negative"),
    ("strong", "weak"),
    ("safe", "unsafe"),
    ("legal", "illegal"),
    ("possible", "impossible"),
    ("born", "die"),
    ("born", "died"),
    ("birth", "death"),
    ("husband", "wife"),
    ("brother", "sister"),
    ("father", "mother"),
    ("son", "daughter"),
    ("king", "queen"),
    ("predecessor", "successor"),
    ("cause", "effect"),
    ("advantage", "disadvantage"),
    ("strength", "weakness"),
    ("adopt", "reject"),
    ("adopted", "rejected"),
    ("grant", "deny"),
    ("granted", "denied"),
    ("support", "oppose"),
    ("supported", "opposed"),
    ("agree", "disagree"),
    ("reserved", "devolved"),
    ("rise", "fall"),
    ("rose", "fell"),
    ("gain", "loss"),
    ("profit", "loss"),
    ("imports", "exports"),
    ("same", "different"),
]
ANTONYMS: dict[str, frozenset[str]] = {}
for _a, _b in _ANTONYMS:
    ANTONYMS.setdefault(_a, frozenset())
    ANTONYMS.setdefault(_b, frozenset())
    ANTONYMS[_a] |= {_b}
    ANTONYMS[_b] |= {_a}

_NUMBER_WORDS = {
    w: str(i)
    for i, w in enumerate(
        _words(
            "zero two three four five six seven eight nine ten eleven twelve thirteen "
            "fourteen fifteen sixteen seventeen eighteen nineteen twenty"
        )
    )
} | {
    "thirty": "30",
    "forty": "40",
    "fifty": "50",
    "hundred": "100",
    "thousand": "1000",
    "million": "1e6",
    "billion": "1e9",
    "dozen": "12",
    "half": "0.5",
    "twice": "x2",
    "double": "x2",
    "triple": "x3",
}
_ORDINALS = {
    w: str(i + 1)
    for i, w in enumerate(
        _words("first second third fourth fifth sixth seventh eighth ninth tenth eleventh twelfth")
    )
}
_ORDINAL_DIGITS = re.compile(r"^(\d+)(st|nd|rd|th)$")
_MONTH_NAMES = _words(
    "january february march april may june july august september october november december"
)
_MONTHS = {m: str(i + 1) for i, m in enumerate(_MONTH_NAMES)} | {
    m[:3]: str(i + 1)
    for i, m in enumerate(_MONTH_NAMES)
    if m[:3] not in ("mar", "may", "jun", "jul")
}
_WEEKDAYS = frozenset(_words("monday tuesday wednesday thursday friday saturday sunday"))
_SEASONS = frozenset(_words("spring summer autumn winter morning evening night noon midnight"))
_UNITS = {
    "km": "km",
    "kilometer": "km",
    "kilometers": "km",
    "kilometre": "km",
    "kilometres": "km",
    "mile": "mi",
    "miles": "mi",
    "mi": "mi",
    "m": "m",
    "meter": "m",
    "meters": "m",
    "metre": "m",
    "metres": "m",
    "cm": "cm",
    "centimeters": "cm",
    "mm": "mm",
    "ft": "ft",
    "foot": "ft",
    "feet": "ft",
    "inch": "in",
    "inches": "in",
    "yard": "yd",
    "yards": "yd",
    "kg": "kg",
    "kilogram": "kg",
    "kilograms": "kg",
    "g": "g",
    "gram": "g",
    "grams": "g",
    "lb": "lb",
    "lbs": "lb",
    "pound": "lb",
    "pounds": "lb",
    "ounce": "oz",
    "ounces": "oz",
    "oz": "oz",
    "ton": "t",
    "tons": "t",
    "tonnes": "t",
    "celsius": "C",
    "centigrade": "C",
    "fahrenheit": "F",
    "kelvin": "K",
    "°": "deg",
    "%": "%",
    "percent": "%",
    "percentage": "%",
    "$": "usd",
    "dollar": "usd",
    "dollars": "usd",
    "usd": "usd",
    "€": "eur",
    "euro": "eur",
    "euros": "eur",
    "eur": "eur",
    "£": "gbp",
    "gbp": "gbp",
    "yen": "jpy",
    "second": "s",
    "seconds": "s",
    "sec": "s",
    "minute": "min",
    "minutes": "min",
    "hour": "h",
    "hours": "h",
    "day": "d",
    "days": "d",
    "week": "wk",
    "weeks": "wk",
    "month": "mo",
    "months": "mo",
    "year": "y",
    "years": "y",
    "decade": "dec",
    "decades": "dec",
    "century": "cent",
    "centuries": "cent",
    "liter": "l",
    "liters": "l",
    "litre": "l",
    "litres": "l",
    "l": "l",
    "ml": "ml",
    "gallon": "gal",
    "gallons": "gal",
    "gb": "gb",
    "mb": "mb",
    "kb": "kb",
    "tb": "tb",
    "gigabytes": "gb",
    "megabytes": "mb",
    "mph": "mph",
    "kph": "kph",
    "km/h": "kph",
    "watt": "w",
    "watts": "w",
    "kw": "kw",
    "kwh": "kwh",
    "volt": "v",
    "volts": "v",
    "calorie": "cal",
    "calories": "cal",
    "kcal": "kcal",
    "bar": "bar",
    "psi": "psi",
    "characters": "char",
    "character": "char",
    "newton": "N",
    "newtons": "N",
    "joule": "J",
    "joules": "J",
    "pascal": "Pa",
    "pascals": "Pa",
    "hertz": "Hz",
    "ampere": "A",
    "amperes": "A",
    "amps": "A",
    "ohm": "ohm",
    "ohms": "ohm",
    "megabits": "Mbit",
    "megabit": "Mbit",
    "gigabits": "Gbit",
    "bits": "bit",
    "bytes": "byte",
    "barrel": "bbl",
    "barrels": "bbl",
    "acre": "acre",
    "acres": "acre",
    "hectare": "ha",
    "hectares": "ha",
    "knots": "kn",
    "decibels": "dB",
    "db": "dB",
}
_SYNONYMS = [
    {"tall", "high", "height"},
    {"big", "large", "huge", "size"},
    {"small", "little", "tiny"},
    {"begin", "start", "commence"},
    {"end", "finish", "conclude"},
    {"buy", "purchase"},
    {"make", "create", "build"},
    {"use", "utilize", "employ"},
    {"help", "assist"},
    {"show", "display"},
    {"get", "obtain", "receive"},
    {"need", "require"},
    {"allowed", "permitted"},
    {"allow", "permit", "let"},
    {"car", "automobile", "vehicle"},
    {"movie", "film"},
    {"job", "work", "occupation"},
    {"author", "writer"},
    {"wrote", "write", "written", "authored", "penned"},
    {"founded", "established", "started"},
    {"invented", "created", "devised"},
    {"die", "died", "death"},
    {"born", "birth"},
    {"quick", "fast", "rapid"},
    {"speed", "velocity"},
    {"temperature", "temp"},
    {"ideal", "best", "optimal", "right", "recommended"},
    {"kind", "type", "sort"},
    {"price", "cost"},
    {"reimburse", "reimbursed", "refund", "refunded", "reimbursement"},
    {"password", "passphrase"},
    {"change", "rotate", "update", "reset", "modify"},
    {"planet", "world"},
    {"largest", "biggest"},
    {"smallest", "tiniest"},
    {"near", "close"},
    {"mean", "meaning", "means", "definition", "define"},
    {"happen", "occur"},
    {"location", "place"},
    {"country", "nation"},
    {"city", "town"},
    {"rule", "policy"},
    {"maximum", "max", "most", "limit", "cap"},
    {"minimum", "min", "least"},
]
SYNONYMS: dict[str, frozenset[str]] = {}
for _group in _SYNONYMS:
    for _w in _group:
        SYNONYMS[_w] = SYNONYMS.get(_w, frozenset()) | frozenset(_group)


_GENERIC_COMPATIBLE = frozenset({"measure", "quantity", "duration", "manner"})
#: "which <noun>" asking for a time, a place, a person or a reason.
_NOUN_TYPES = {
    **dict.fromkeys(
        _words("year century decade date day month period era time season age"), "time"
    ),
    **dict.fromkeys(
        _words(
            "country city town region state place location area planet continent island "
            "organ street province nation"
        ),
        "place",
    ),
    **dict.fromkeys(
        _words(
            "person people man woman team side institution organization organisation "
            "company group player scientist king queen president author writer leader"
        ),
        "person",
    ),
    **dict.fromkeys(_words("reason cause purpose motive"), "reason"),
}
_AUX = frozenset(
    _words("is was are were be been did does do has have had can could will would should may")
)
_PREPOSITIONS = frozenset(_words("in on at during for from to by about under after before"))
#: Nouns of "what <noun>" that ask for a measure ("what temperature" = "how hot").
_MEASURE_NOUNS = frozenset(
    _words(
        "temperature height length size weight speed distance depth age amount number "
        "percentage price cost pressure width area volume population time duration year date"
    )
)
#: "what does X mean / stand for / state" asks what "what is X" asks.
_DEFINING_VERBS = frozenset(
    _words("mean stand refer signify denote represent state say describe define involve do")
)
#: Types that ask for the same kind of answer: "how tall" = "how many metres", "how long must
#: it be" = "what length", "how old" = "how long ago".
_SAME_KIND = frozenset({"measure", "quantity", "duration"})
#: Units that mean something without a number beside them ("in celsius", "in newtons");
#: the others (time spans: "per day", "which year") only count next to a number.
_TIME_UNITS = frozenset({"s", "min", "h", "d", "wk", "mo", "y", "dec", "cent"})
_DEMONYMS: dict[str, frozenset[str]] = {
    d: frozenset(_words(n))
    for d, n in {
        "polish": "poland",
        "american": "us america united states",
        "french": "france",
        "british": "britain uk",
        "german": "germany",
        "chinese": "china",
        "japanese": "japan",
        "scottish": "scotland",
        "european": "europe",
        "english": "england",
        "egyptian": "egypt",
        "iranian": "iran",
        "russian": "russia",
        "spanish": "spain",
        "italian": "italy",
        "indian": "india",
        "african": "africa",
        "korean": "korea",
        "welsh": "wales",
        "irish": "ireland",
        "norman": "normandy",
        "dutch": "netherlands",
        "swedish": "sweden",
        "greek": "greece",
    }.items()
}


_IRREGULAR = dict(
    pair.split(":")
    for pair in _words("""beaten:beat written:write wrote:write driven:drive drove:drive taken:take
    took:take given:give gave:give eaten:eat ate:eat chosen:choose chose:choose spoken:speak
    spoke:speak broken:break broke:break stolen:steal stole:steal known:know knew:know
    shown:show grown:grow grew:grow thrown:throw threw:throw drawn:draw drew:draw won:win
    lost:lose made:make built:build found:find held:hold led:lead paid:pay sold:sell
    bought:buy taught:teach caught:catch fought:fight thought:think brought:bring sent:send
    spent:spend told:tell said:say ran:run began:begin begun:begin flew:fly flown:fly
    hit:hit struck:strike killed:kill defeated:defeat""")
)


_NOUN_BEFORE = frozenset(
    _words(
        "the a an of in on at for to from about with by this that these those its their is are "
        "was were one"
    )
)
#: Words that name what a proper name is and may be left out ("Harvard University" /
#: "Harvard"); any other word of a name must be there.
_GENERIC_NAME_WORDS = frozenset(
    _words(
        "university college school institute river lake mountain mount city town dynasty "
        "empire kingdom war company corporation inc island islands ocean sea street tower "
        "bridge building museum church cathedral castle palace park airport station"
    )
)


__all__ = ["ANTONYMS", "NEGATIONS", "STOPWORDS", "SYNONYMS"]
