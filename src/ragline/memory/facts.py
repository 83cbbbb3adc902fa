"""Facts from what a user says: the :class:`FactExtractor` Protocol and the rule extractor.

A user turn is split into sentences and clauses ("I moved to Lyon and I work at Renault now"
is two); each clause spoken in the first person is matched against rules for the common forms
and normalised to a key and a value:

=====================================================  ==========================  =================
said                                                   key                         value
=====================================================  ==========================  =================
I live in / moved to / am based in Lyon                ``location``                Lyon
call me / my name is / I go by Sam                     ``name``                    Sam
I work at / for, joined, got a job at Acme             ``employer``                Acme
I work as / am a nurse (a known job), my job is …      ``job``                     nurse
I'm from / grew up in Porto                            ``hometown``                Porto
I'm vegetarian / vegan …                               ``diet``                    vegetarian
I'm allergic to peanuts                                ``allergy``                 peanuts
I'm 34 (years old), I turned 34                        ``age``                     34
I drive a Golf                                         ``car``                     Golf
I speak Spanish and Greek                              ``languages``               Spanish and Greek
I have a dog named Rex                                 ``dog name``                Rex
my favourite colour is green / green is my favourite   ``favorite color``          green
colour, my X is Y (any X)
I like / love / enjoy / am into jazz; I don't like,    ``preference:jazz``         likes jazz /
hate, can't stand, am no longer into jazz                                          dislikes jazz
I prefer / would rather tea (over coffee)              ``prefers:tea``             prefers tea
I teach maths / got a job as / was promoted to X       ``job`` (+ ``employer``,    maths teacher
(at Acme, in Lyon)                                     ``location``)
I support X / I'm an X supporter / X is my club        ``team``                    X
I'm a huge fan of Olympique de Marseille               ``fan:olympique de …``      fan of …
my sister Inês …, our dog, Bruno …                     ``sister name``             Inês
I play / am learning the cello                         ``instrument``              cello
I'm learning German                                    ``learning``                German
I use a Wacom for drawing                              ``uses for drawing``        Wacom
I've got / own a Kindle                                ``has:kindle``              Kindle
an e-mail address said as mine                         ``email``                   the address
new number: 455 10 220                                 ``phone number``            455 10 220
evenings suit me better (than mornings)                ``prefers:evenings``        prefers evenings
=====================================================  ==========================  =================

:func:`change_of` reads what a statement says was replaced ("I traded *the Peugeot* for a
Dacia", "the Clio is gone", "Acme let me go"): long-term memory supersedes what it names.

A first-person statement no rule reads may become a ``note`` (:class:`RuleExtractor` with
``notes=True``): its key is a hash of the sentence and it is recalled by similarity alone.
:func:`forget_request` reads "forget that I live in Lyon" / "forget my phone number" /
"forget everything about me".
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Protocol, runtime_checkable

from ragline.store.memory_base import FactKind
from ragline.text.sentences import sentences

_APOSTROPHES = str.maketrans({"\u2019": "'", "\u2018": "'", "\u201c": '"', "\u201d": '"'})
# Words that end a value without being part of it ("Lyon now", "Acme these days").
_TRAILING = re.compile(
    r"(?:\s+|^)(?:now|nowadays|these days|anymore|any more|at the moment|currently|as well|too|"
    r"actually|though|instead|again|lately|full[- ]time|part[- ]time|for (?:a|the) (?:while|"
    r"living)|for (?:about |almost |over )?(?:a|an|one|two|three|four|five|six|\d+) "
    r"(?:years?|months?|weeks?)|since .+|last (?:week|month|year|term|semester)|"
    r"this (?:week|month|year|term|semester|season)|"
    r"recently|right now|for now|originally|sadly|honestly|any day|(?:every|each) (?:day|week|"
    r"morning|evening)|on weekends|by the way|btw|haha|lol|in (?:early |late )?(?:january|"
    r"february|march|april|may|june|july|august|september|october|november|december)"
    r"(?: \d{4})?|in \d{4})\s*$",
    re.I,
)
_LEADING = re.compile(r"^(?:the city of|the town of|sunny|beautiful|lovely)\s+", re.I)
# "…, and I moved" starts a clause; "Jakob and I are engaged" is one subject, not two clauses
_CLAUSE = re.compile(
    r"\s*(?:;|,?\s+but\s+|,?\s+and\s+(?=I\b(?!\s+(?:are|were|have|both)\b)|I'(?!ve\b)|my\b|we\b)"
    r"|,\s+(?=I\b|my\b))\s*"
)
_FIRST_PERSON = re.compile(r"\b(?:I|I'm|I've|I'd|I'll|my|me|mine|we|our)\b", re.I)
_QUESTION = re.compile(
    r"\?\s*$|^\s*(?:what|which|who|whom|whose|when|where|why|how|do|does|did|is|are|can|could|"
    r"would|will|should|shall|may|tell me|remind me|show me|please tell)\b",
    re.I,
)
_JOBS = (
    "engineer|developer|programmer|teacher|nurse|doctor|physician|surgeon|lawyer|attorney|"
    "designer|manager|analyst|scientist|researcher|architect|accountant|consultant|writer|"
    "journalist|chef|cook|pilot|student|professor|librarian|pharmacist|dentist|electrician|"
    "plumber|carpenter|mechanic|photographer|artist|musician|translator|editor|baker|farmer|"
    "firefighter|police officer|veterinarian|vet|therapist|psychologist|economist|banker|"
    "entrepreneur|intern|recruiter|tester|administrator|technician|clerk|driver|waiter|"
    "waitress|barista|tutor|coach|producer|paramedic|midwife|nanny|cashier|salesman|"
    "saleswoman|data scientist|product manager|software engineer|illustrator|animator|"
    "actor|actress|dancer|singer|lecturer|postdoc|phd student|sysadmin|devops engineer|"
    "practitioner|director|officer|executive|coordinator|specialist|assistant|secretary|"
    "receptionist|technologist|principal|headteacher|head teacher|supervisor|foreman|"
    "surveyor|optician|radiologist|midwife|caregiver|carer|social worker|paralegal|"
    "copywriter|strategist|planner|buyer|auditor|underwriter|broker|agent|representative|"
    "instructor|trainer|counsellor|counselor|curator|archivist|biologist|chemist|physicist|"
    "geologist|statistician|mathematician|programmer|webmaster|investigator|inspector"
)
#: The head of something ("I'm the deputy head of the school"): a role.
_ROLES = (
    r"head|deputy head|chief|director|manager|lead|principal|captain|owner|founder|"
    r"co-founder|president|vice president|chair|chairman|chairwoman|ceo|cto|cfo|coo|"
    r"editor|coordinator|supervisor|dean|boss"
)
#: People and pets a user names ("my sister Inês", "our dog, Bruno").
#: The people and pets a user speaks of as theirs ("my sister", "our dog").
RELATIONS = (
    r"son|daughter|sister|brother|wife|husband|partner|boyfriend|girlfriend|fianc[eé]e?|"
    r"mother|father|mum|mom|dad|grandmother|grandfather|grandma|grandpa|aunt|uncle|cousin|"
    r"niece|nephew|boss|manager|colleague|flatmate|roommate|best friend|friend|kid|child|"
    r"baby|twins|cat|dog|puppy|kitten|parrot|rabbit|hamster|horse|tortoise|turtle"
)
#: Musical instruments ("I play the violin", "I've been learning the cello").
_INSTRUMENTS = (
    r"piano|keyboard|guitar|electric guitar|bass guitar|bass|violin|viola|cello|double bass|"
    r"drums|flute|clarinet|oboe|bassoon|saxophone|sax|trumpet|trombone|tuba|horn|french horn|"
    r"harp|ukulele|banjo|mandolin|accordion|harmonica|organ|synthesizer|recorder"
)
_DIETS = (
    r"vegetarian|vegan|pescatarian|gluten[- ]free|lactose[- ]intolerant|keto|"
    r"on a [\w-]+ diet|teetotal|sober"
)
# Keys said in other words ("my hometown" is where one is from, "my company" the employer).
KEY_ALIASES: dict[str, str] = {
    "name": "name",
    "first name": "name",
    "nickname": "name",
    "job": "job",
    "profession": "job",
    "occupation": "job",
    "role": "job",
    "job title": "job",
    "employer": "employer",
    "company": "employer",
    "workplace": "employer",
    "home town": "hometown",
    "hometown": "hometown",
    "city": "location",
    "home": "location",
    "address": "address",
    "home address": "address",
    "car": "car",
    "diet": "diet",
    "age": "age",
    "birthday": "birthday",
    "date of birth": "birthday",
    "phone": "phone number",
    "number": "phone number",
    "mobile": "phone number",
    "cell": "phone number",
    "main programming language": "programming language",
    "phone number": "phone number",
    "mobile number": "phone number",
    "cell number": "phone number",
    "email": "email",
    "email address": "email",
    "e-mail": "email",
    "club": "team",
    "football team": "team",
    "football club": "team",
}
#: Words of a question that point at a key (besides the key's own words).
KEY_CUES: dict[str, frozenset[str]] = {
    "location": frozenset(
        [
            "live",
            "living",
            "lives",
            "reside",
            "based",
            "city",
            "town",
            "home",
            "where",
            "move",
            "moved",
        ]
    ),
    "name": frozenset(["name", "call", "called"]),
    "employer": frozenset(["work", "working", "employer", "company", "firm", "employed"]),
    "job": frozenset(["job", "profession", "occupation", "work", "working", "do", "living"]),
    "hometown": frozenset(["from", "hometown", "grow", "grew", "born", "originally"]),
    "diet": frozenset(["diet", "eat", "eating", "food", "meat", "vegetarian", "vegan"]),
    "age": frozenset(["age", "old"]),
    "car": frozenset(["car", "drive", "driving", "vehicle"]),
    "languages": frozenset(["language", "languages", "speak"]),
    "birthday": frozenset(["birthday", "born", "birth"]),
    "team": frozenset(["team", "club", "support", "supporter", "fan", "follow", "football"]),
    "instrument": frozenset(["instrument", "play", "playing", "music"]),
    "learning": frozenset(["learn", "learning", "study", "studying", "course", "class"]),
}
# "my X is Y" where X is no fact about the user ("my question is", "my point is").
_NOT_KEYS = frozenset(
    [
        "question",
        "point",
        "guess",
        "bad",
        "pleasure",
        "god",
        "goodness",
        "problem",
        "issue",
        "answer",
        "idea",
        "thought",
        "understanding",
        "concern",
        "worry",
        "fault",
        "turn",
        "mistake",
        "request",
        "point",
        "here",
        "plan",
        "follow",
        "up",
    ]
)


@dataclass(frozen=True, slots=True)
class FactCandidate:
    """One fact read from a turn: a key, a value, and the fact as a sentence."""

    key: str
    value: str
    statement: str
    kind: FactKind = "fact"
    #: The clause it was read from.
    clause: str = ""


@runtime_checkable
class FactExtractor(Protocol):
    """Reads facts about the user from one of the user's turns.

    ``keys``: the user's current keys, so that an extractor that can tell (the model) gives
    a new value of a known thing the same key, which supersedes the old value."""

    def extract(self, text: str, *, keys: Sequence[str] = ()) -> list[FactCandidate]: ...


def clauses(text: str) -> list[str]:
    """The sentences of ``text`` cut at ";", "but" and "and I / and my"."""
    out: list[str] = []
    for sentence in sentences(text.translate(_APOSTROPHES)):
        for part in _CLAUSE.split(sentence):
            part = part.strip(" .!\t\n")
            if part:
                out.append(part)
    return out


def clean_value(value: str) -> str:
    """A value without trailing filler ("Lyon now" -> "Lyon"), quotes and end punctuation."""
    v = _strip_trailing(value)
    v = re.split(
        r",|\s+(?:because|since|which|so|but|where|when)\s+|\s+(?:with|in|on)\s+(?:my|our|the|his|"
        r"her|their)\s+",
        v,
        maxsplit=1,
    )[0]
    return _LEADING.sub("", v).strip(" .!,;:\"'")


def normalise_key(words: str) -> str:
    """``favourite colour`` -> ``favorite color``; aliases to canonical keys (``company`` ->
    ``employer``); possessives dropped (``dog's name`` -> ``dog name``)."""
    k = " ".join(words.casefold().replace("'s ", " ").split())
    k = re.sub(r"\bfavou?rite\b|\bfav\b", "favorite", k)
    k = re.sub(r"\bcolou?r\b", "color", k)
    k = re.sub(r"^(?:current|new|old|present|usual)\s+", "", k)
    return KEY_ALIASES.get(k, k)


_QUALIFIER = re.compile(
    r"\s+(?:in|on|at|for|when|with|during|every|especially|because|while)\s+.*$", re.I
)


def _object(value: str, *, lower: bool = True) -> str:
    """The object of a preference, without its article and qualifiers ("the beach" ->
    "beach", "hiking on weekends" -> "hiking", "dark mode in every editor" -> "dark mode");
    lower case unless ``lower`` is False (names keep their case: "Olympique de Marseille")."""
    v = _QUALIFIER.sub("", clean_value(value))
    v = re.sub(r"^(?:the|a|an|some|all|any)\s+", "", v, flags=re.I).strip()
    if lower or not any(w[:1].isupper() for w in v.split()[1:] + v.split()[:1]):
        return v.casefold()
    return v


Build = Callable[[re.Match[str]], "FactCandidate | list[FactCandidate] | None"]


def _keyed(key: str, template: str) -> Build:
    def build(m: re.Match[str]) -> FactCandidate | None:
        value = clean_value(m.group("v"))
        if not value or len(value.split()) > 6:
            return None
        return FactCandidate(key, value, template.format(v=value))

    return build


def _job(m: re.Match[str]) -> list[FactCandidate] | None:
    """A job; "nurse at São João hospital" is a job and an employer (a name after at/for)."""
    return _job_value(m.group("v"))


_CAP = "[A-Z\u00c0-\u00de]"


#: A place of work said with an article ("a bakery", "the clinic"), not a time ("at the
#: moment", "for a while").
_WORKPLACE = r"(?-i:an?|the)\s+(?!(?:moment|time|weekend|end|while|bit|year|day|week|month)\b)\w"


_IN_PLACE = re.compile(rf"\s+in\s+(?P<place>{_CAP}[\w'-]*(?:[\s-]+{_CAP}[\w'-]*){{0,3}})$")


def _in_place(text: str) -> tuple[str, list[FactCandidate]]:
    """``text`` without a capitalised place it ends with ("a seed company in Harare"), and
    that place as the user's location (none: ``text`` as it is, no fact)."""
    place = _IN_PLACE.search(text)
    if place is None:
        return text, []
    where = place.group("place")
    return text[: place.start()], [FactCandidate("location", where, f"I live in {where}")]


def _job_value(raw: str) -> list[FactCandidate] | None:
    """A job, and what it names besides: the employer after at / for / with ("nurse at São
    João hospital"), the place after in ("nurse practitioner in Accra"), when capitalised."""
    value, out = _in_place(re.sub(r"^(?:an?|the|my)\s+", "", clean_value(raw), flags=re.I))
    # "nurse at São João", "pastry chef at a bakery": a name, or a place of work with an article
    at = re.match(
        rf"(?P<job>.+?)\s+(?:at|for|with)\s+(?P<org>(?:the\s+)?{_CAP}.*|{_WORKPLACE}.*)$",
        value,
    )
    if at is not None:
        value = at.group("job")
        org = re.sub(rf"^the\s+(?={_CAP})", "", at.group("org"))
        if len(org.split()) <= 5:
            out.insert(0, FactCandidate("employer", org, f"I work at {org}"))
    if not value or len(value.split()) > 7:
        return None
    return [FactCandidate("job", value, f"I work as {_article(value)} {value}"), *out]


def _job_with(m: re.Match[str]) -> list[FactCandidate] | None:
    """ "I've taken a position with Emaar as a senior architect": a job and an employer."""
    org = re.sub(r"^the\s+", "", clean_value(m.group("org")), flags=re.I)
    jobs = _job_value(m.group("v"))
    if jobs is None or not org or len(org.split()) > 5:
        return jobs
    return [*jobs, FactCandidate("employer", org, f"I work at {org}")]


def _eats_again(m: re.Match[str]) -> FactCandidate:
    what = m.group("v").casefold()
    return FactCandidate("diet", f"eats {what}", f"I eat {what} again")


def _not_diet(m: re.Match[str]) -> FactCandidate | None:
    """ "I'm not vegetarian anymore": the diet is no longer so."""
    diet = (m.group("v") or m.group("w") or "").casefold()
    return FactCandidate("diet", f"no longer {diet}", f"I am no longer {diet}") if diet else None


#: What one manages, runs or owns as a living ("I run a small bakery").
_BUSINESSES = (
    r"shop|store|bakery|caf[eé]|restaurant|bar|pub|pharmacy|clinic|practice|company|business|"
    r"firm|agency|studio|salon|garage|hotel|hostel|farm|school|team|department|lab|gallery|"
    r"bookshop|bookstore|start-?up|charity|workshop|kitchen|warehouse|office|branch|nursery|"
    r"brewery|vineyard|surgery|consultancy|dealership|gym|florist|boutique|stall|factory|plant"
)


def _runs(m: re.Match[str]) -> list[FactCandidate] | None:
    """ "I run a small bakery in Bologna": the job is running it; the place is kept too."""
    said, out = _in_place(clean_value(m.group("v")))
    if not said or len(said.split()) > 6:
        return None
    verb = m.group("verb").casefold()
    return [FactCandidate("job", f"{verb}s {said}", f"I {verb} {said}"), *out]


def _employer(m: re.Match[str]) -> list[FactCandidate] | None:
    """An employer; "the council as a maintenance supervisor" is an employer and a job."""
    said = clean_value(m.group("v"))
    org, _, job = said.partition(" as ")
    # "a seed company in Harare": the employer, and where the user is
    org, out = _in_place(org.strip())
    if not org or len(org.split()) > 6:
        return None
    out.insert(0, FactCandidate("employer", org, f"I work at {org}"))
    jobs = _job_value(job) if job.strip() else None
    return out + (jobs or [])


def _teach(m: re.Match[str]) -> list[FactCandidate] | None:
    """ "I teach maths at a high school": a maths teacher."""
    said = clean_value(m.group("v"))
    subject = re.split(r"\s+(?:at|in|to|for)\s+", said, maxsplit=1)[0]
    if not subject or len(subject.split()) > 3:
        return None
    place = re.search(rf"\s+in\s+({_CAP}.*)$", said)
    return _job_value(f"{subject} teacher" + (f" in {place.group(1)}" if place else ""))


def _promoted(m: re.Match[str]) -> list[FactCandidate] | None:
    return _job_value(m.group("v"))


def _article(word: str) -> str:
    return "an" if word[:1].lower() in "aeiou" else "a"


def _name(m: re.Match[str]) -> FactCandidate | None:
    words = clean_value(m.group("v")).split()
    if not words or len(words) > 3 or not words[0][:1].isupper():
        return None
    value = " ".join(words)
    return FactCandidate("name", value, f"my name is {value}")


#: "I'm Canadian" is no name (a capitalised word after "I'm" that names a nationality).
_DEMONYMS = frozenset(
    [
        "american",
        "canadian",
        "mexican",
        "brazilian",
        "argentinian",
        "argentine",
        "chilean",
        "peruvian",
        "colombian",
        "venezuelan",
        "cuban",
        "british",
        "english",
        "scottish",
        "welsh",
        "irish",
        "french",
        "german",
        "dutch",
        "belgian",
        "swiss",
        "austrian",
        "italian",
        "spanish",
        "portuguese",
        "greek",
        "turkish",
        "polish",
        "czech",
        "slovak",
        "hungarian",
        "romanian",
        "bulgarian",
        "serbian",
        "croatian",
        "slovenian",
        "ukrainian",
        "russian",
        "belarusian",
        "lithuanian",
        "latvian",
        "estonian",
        "finnish",
        "swedish",
        "norwegian",
        "danish",
        "icelandic",
        "chinese",
        "japanese",
        "korean",
        "vietnamese",
        "thai",
        "filipino",
        "indonesian",
        "malaysian",
        "singaporean",
        "indian",
        "pakistani",
        "bangladeshi",
        "nepali",
        "sri",
        "lankan",
        "afghan",
        "iranian",
        "iraqi",
        "syrian",
        "lebanese",
        "jordanian",
        "israeli",
        "palestinian",
        "saudi",
        "emirati",
        "qatari",
        "kuwaiti",
        "omani",
        "yemeni",
        "egyptian",
        "moroccan",
        "algerian",
        "tunisian",
        "libyan",
        "nigerian",
        "ghanaian",
        "kenyan",
        "ethiopian",
        "somali",
        "south",
        "african",
        "australian",
        "kiwi",
        "european",
        "asian",
        "african",
        "latino",
        "latina",
        "maltese",
        "cypriot",
        "luxembourgish",
        "catalan",
        "basque",
    ]
)


def _introduced(m: re.Match[str]) -> list[FactCandidate] | None:
    """ "I'm Maya" (alone, or before a comma): a capitalised name; not "I'm Canadian", "I'm
    Japanese" (nationalities), nor "I'm lactose intolerant". "…, from Sevilla" after it is
    where the user is from."""
    value = m.group("v")
    if not value[:1].isupper() or value.split()[0].casefold() in _DEMONYMS:
        return None
    out = [FactCandidate("name", value, f"my name is {value}")]
    rest = re.match(r",\s*(?:originally\s+)?from\s+(?P<h>.+)$", m.group("rest") or "", re.I)
    if rest is not None and clean_value(rest.group("h")):
        home = clean_value(rest.group("h"))
        out.append(FactCandidate("hometown", home, f"I am from {home}"))
    return out


def _capitalised(value: str) -> bool:
    return bool(re.match(r"[A-Z\u00c0-\u00de]", value))


def _relation_name(m: re.Match[str]) -> FactCandidate | None:
    """ "my sister Inês lives in Faro", "our dog, Bruno, is a beagle": the name of a person
    or pet of the user's (the rest of the clause is about them, not the user)."""
    thing = " ".join(m.group("thing").casefold().split())
    value = m.group("v")
    if not _capitalised(value) or value.split()[0] in {"I", "I'm", "I've", "I'd"}:
        return None
    return FactCandidate(f"{thing} name", value, f"my {thing}'s name is {value}")


def _called(m: re.Match[str]) -> FactCandidate | None:
    """ "my son is called Yassin", "my twins are named Esi and Kofi"."""
    thing = normalise_key(m.group("thing"))
    value = clean_value(m.group("v"))
    if not value or len(value.split()) > 4 or thing in _NOT_KEYS:
        return None
    verb = "are" if m.group("verb").casefold() in {"are", "'re"} else "is"
    return FactCandidate(f"{thing} name", value, f"my {thing} {verb} called {value}")


def _team(m: re.Match[str]) -> FactCandidate | None:
    value = clean_value(m.group("v"))
    if not _capitalised(value) or len(value.split()) > 5:
        return None
    return FactCandidate("team", value, f"I support {value}")


def _instrument(m: re.Match[str]) -> FactCandidate | None:
    value = m.group("v").casefold()
    return FactCandidate("instrument", value, f"I play the {value}")


def _strip_trailing(value: str) -> str:
    v = value.strip(" .!,;:\"'")
    for _ in range(3):
        stripped = _TRAILING.sub("", v).strip(" .!,;:\"'")
        if stripped == v:
            break
        v = stripped
    return v


def _languages(m: re.Match[str]) -> FactCandidate | None:
    """ "I speak Arabic, French and a bit of English": the whole list, commas kept."""
    value = re.split(r"\s+(?:because|since|which|so|but|where|when)\s+", m.group("v"))[0]
    value = _strip_trailing(value)
    if not value or len(value.split()) > 10:
        return None
    return FactCandidate("languages", value, f"I speak {value}")


def _learning(m: re.Match[str]) -> FactCandidate | None:
    value = re.sub(r"^(?:to\s+speak\s+|how\s+to\s+)", "", clean_value(m.group("v")), flags=re.I)
    value = re.split(r"\s+(?:at|with|in|on|for|from)\s+", value, maxsplit=1)[0]
    if not value or len(value.split()) > 4:
        return None
    return FactCandidate("learning", value, f"I am learning {value}")


def _uses_for(m: re.Match[str]) -> FactCandidate | None:
    """ "I use a Wacom Cintiq for drawing", "I switched to an iPad Pro for drawing": the
    thing used for a purpose (the purpose is the key: a new thing for it replaces the old)."""
    thing = re.sub(r"^(?:an?|the|my)\s+", "", clean_value(m.group("v")), flags=re.I)
    purpose = clean_value(m.group("p")).casefold()
    if not thing or not purpose or len(thing.split()) > 5 or len(purpose.split()) > 4:
        return None
    return FactCandidate(f"uses for {purpose}", thing, f"I use {thing} for {purpose}")


#: "I have a …" that is no possession ("I have a question", "I have a meeting").
_NOT_OWNED = frozenset(
    [
        "question",
        "problem",
        "issue",
        "meeting",
        "idea",
        "doubt",
        "appointment",
        "request",
        "call",
        "lot",
        "bit",
        "feeling",
        "cold",
        "headache",
        "moment",
        "minute",
        "second",
        "look",
        "chance",
        "favour",
        "favor",
        "suggestion",
        "deadline",
        "presentation",
        "interview",
        "exam",
        "test",
        "day",
        "week",
        "weekend",
        "holiday",
        "break",
        "plan",
        "few",
        "couple",
        "good",
        "bad",
        "great",
        "hard",
        "quick",
        "new",
        "small",
        "big",
    ]
)


def _possession(m: re.Match[str]) -> FactCandidate | None:
    """ "I've got a vintage Vespa", "I own a Kindle": a thing the user has (its key names the
    thing; a later "I sold the Vespa" replaces it)."""
    value = clean_value(m.group("v"))
    value = re.split(r"\s+(?:at|in|on|for|from|with|that|who|which)\s+", value, maxsplit=1)[0]
    words = value.split()
    if not words or len(words) > 4 or words[0].casefold() in _NOT_OWNED:
        return None
    if words[-1].casefold() in _NOT_OWNED:
        return None
    return FactCandidate(f"has:{value.casefold()}", value, f"I have {_article(value)} {value}")


def _comparative(m: re.Match[str]) -> FactCandidate | None:
    """ "Evenings work better for me now than mornings", "tea suits me better": preferred."""
    obj = _object(m.group("v"), lower=False)
    if not obj or len(obj.split()) > 4 or _FIRST_PERSON.match(obj):
        return None
    other = m.group("w")
    extra = f" over {_object(other, lower=False)}" if other else ""
    return FactCandidate(
        f"prefers:{obj.casefold()}", f"prefers {obj}{extra}", f"I prefer {obj}{extra}", "preference"
    )


def _age(m: re.Match[str]) -> FactCandidate | None:
    value = m.group("v")
    return FactCandidate("age", value, f"I am {value} years old")


def _born(m: re.Match[str]) -> FactCandidate | None:
    value = clean_value(m.group("v"))
    if not value:
        return None
    if re.search(r"\d", value) or re.search(
        r"\b(?:jan|feb|mar|apr|may|jun|jul|aug|sep|oct|nov|dec)", value, re.I
    ):
        return FactCandidate("birthday", value, f"I was born on {value}")
    return FactCandidate("hometown", value, f"I am from {value}")


def _named(m: re.Match[str]) -> FactCandidate | None:
    thing = normalise_key(m.group("thing"))
    value = clean_value(m.group("v"))
    if not value or len(value.split()) > 3:
        return None
    return FactCandidate(f"{thing} name", value, f"my {thing} is called {value}")


def _count(m: re.Match[str]) -> FactCandidate | None:
    thing = m.group("thing").casefold()
    return FactCandidate(f"number of {thing}", m.group("v"), f"I have {m.group('v')} {thing}")


def _my_is(m: re.Match[str]) -> FactCandidate | None:
    raw = m.group("k")
    key = normalise_key(raw)
    if key.split()[-1] in _NOT_KEYS or key in _NOT_KEYS:
        return None
    value = clean_value(m.group("v"))
    if not value or len(value.split()) > 8:
        return None
    verb = "are" if raw.casefold().endswith("s") and not raw.casefold().endswith("ss") else "is"
    if key == "phone number" and "number" not in raw.casefold() and not re.search(r"\d{3}", value):
        key = "phone"  # "my phone is an iPhone 12": the device, not its number
    return FactCandidate(key, value, f"my {raw.casefold()} {verb} {value}")


def _is_my(m: re.Match[str]) -> FactCandidate | None:
    raw = m.group("k")
    value = clean_value(m.group("v"))
    if not value or len(value.split()) > 5:
        return None
    return FactCandidate(normalise_key(raw), value, f"my {raw.casefold()} is {value}")


def _likes(positive: bool) -> Build:
    def build(m: re.Match[str]) -> FactCandidate | None:
        shown = _object(m.group("v"), lower=False)
        obj = shown.casefold()
        if not obj or len(obj.split()) > 5 or obj in {"it", "that", "this", "you", "them"}:
            return None
        if positive:
            return FactCandidate(
                f"preference:{obj}", f"likes {shown}", f"I like {shown}", "preference"
            )
        return FactCandidate(
            f"preference:{obj}", f"dislikes {shown}", f"I don't like {shown}", "preference"
        )

    return build


def _prefers_switch(m: re.Match[str]) -> FactCandidate | None:
    """ "I've switched to light mode": now preferred (it replaces a preference alike)."""
    obj = re.sub(r"^(?:an?|the)\s+", "", _object(m.group("v")))
    if not obj or len(obj.split()) > 5:
        return None
    return FactCandidate(f"prefers:{obj}", f"prefers {obj}", f"I prefer {obj}", "preference")


#: Verbs that may open what one would rather do ("rather *work* mornings").
_VERBS = frozenset(
    [
        "work",
        "have",
        "drink",
        "eat",
        "take",
        "use",
        "get",
        "do",
        "go",
        "be",
        "sit",
        "travel",
        "fly",
        "stay",
        "live",
        "watch",
        "read",
        "play",
        "listen",
        "walk",
        "drive",
        "cook",
        "start",
        "finish",
        "wear",
        "ride",
        "sleep",
        "wake",
        "meet",
        "call",
        "write",
        "study",
    ]
)


def _fan(m: re.Match[str]) -> FactCandidate | None:
    """ "I'm a huge fan of Olympique de Marseille": a fan of something with a name (a club,
    a band), which questions about whom one supports or follows reach (``fan:`` cues)."""
    obj = _object(m.group("v"), lower=False)
    if not _capitalised(obj) or len(obj.split()) > 5:
        return None
    return FactCandidate(
        f"fan:{obj.casefold()}", f"fan of {obj}", f"I am a fan of {obj}", "preference"
    )


def _prefers(m: re.Match[str]) -> FactCandidate | None:
    obj = _object(m.group("v"))
    other = m.group("w")
    first = obj.split(" ", 1)
    if other and len(first) == 2 and first[0] in _VERBS:
        obj = first[1]  # "I'd rather work mornings than evenings": mornings
    if not obj or len(obj.split()) > 6:
        return None
    extra = f" over {_object(other)}" if other else ""
    return FactCandidate(
        f"prefers:{obj}", f"prefers {obj}{extra}", f"I prefer {obj}{extra}", "preference"
    )


_I_AM = r"I(?:'m| am)"
_NOW = r"(?:(?:now|currently|still|also|actually|really|just|recently|finally|mostly)\s+)?"
RULES: tuple[tuple[re.Pattern[str], Build], ...] = tuple(
    (re.compile(p, re.I), build)
    for p, build in (
        # location
        (
            rf"\b(?:I|we)(?:'ve| have)?\s+{_NOW}(?:moved|relocated|emigrated)\s+"
            r"(?:(?:house|home|back|away|abroad)\s+)?(?:from\s+.+?\s+)?(?:to|into)\s+(?P<v>.+)",
            _keyed("location", "I live in {v}"),
        ),
        (
            rf"\b(?:I|we)\s+{_NOW}(?:live|reside)\s+in\s+(?P<v>.+)",
            _keyed("location", "I live in {v}"),
        ),
        (
            r"\b(?:I|we)(?:'ve|\s+have)?\s+(?:[\w-]+\s+){1,3}?(?:moved|relocated|emigrated)\s+"
            r"(?:(?:house|home|back|away|abroad)\s+)?(?:from\s+.+?\s+)?(?:to|into)\s+(?P<v>.+)",
            _keyed("location", "I live in {v}"),
        ),
        (
            rf"\b(?:I'm|I\s+am|we're|we\s+are)\s+(?:now\s+|currently\s+)?in\s+(?P<v>(?-i:{_CAP})"
            r"[\w' -]+?)\s+(?:now|these\s+days|nowadays|for\s+good)\b",
            _keyed("location", "I live in {v}"),
        ),
        (
            r"\b(?:renting|rent|sharing|share|bought|own)\s+(?:an?|my|our)\s+(?:flat|apartment|"
            rf"house|room|place|home|condo)\s+in\s+(?P<v>(?-i:{_CAP}).+?)(?:\s+and\s+.*)?$",
            _keyed("location", "I live in {v}"),
        ),
        (
            rf"\b(?:{_I_AM}|we're|we are)\s+{_NOW}(?:living|residing|based|settled|staying)\s+"
            r"in\s+(?P<v>.+)",
            _keyed("location", "I live in {v}"),
        ),
        (
            r"\bmy\s+(?:new\s+)?(?:home|place|apartment|flat|house)\s+is\s+in\s+(?P<v>.+)",
            _keyed("location", "I live in {v}"),
        ),
        (
            r"^(?P<v>(?-i:[A-Z\u00c0-\u00de])[\w' -]+?)\s+is\s+(?:now\s+)?(?:my\s+)?home\b",
            _keyed("location", "I live in {v}"),
        ),
        (
            # "home is Lyon", not "my oven at home is a Miele" (the rules are case-blind)
            r"(?<!\bat\s)\b(?:home|where I live)\s+is\s+(?:now\s+)?(?P<v>(?-i:[A-Z]).+)",
            _keyed("location", "I live in {v}"),
        ),
        # contact details: an e-mail address said as the user's, "new number: …"
        (
            r"(?:\bmy\b|\bnew\b|^(?:e-?mail|email\s+address)\b).*?(?P<v>[\w.+-]+@[\w-]+(?:\.[\w-]+)+)",
            _keyed("email", "my email address is {v}"),
        ),
        (
            r"^(?:my\s+)?(?:new|current|updated)\s+(?:phone\s+|mobile\s+|cell\s+)?number\s*[:,-]?"
            r"\s*(?:is\s+)?(?P<v>\+?\d[\d ()-]{5,}\d)",
            _keyed("phone number", "my phone number is {v}"),
        ),
        # name
        (r"\b(?:please\s+)?call\s+me\s+(?P<v>.+)", _name),
        (r"(?:\bmy\s+|^)name(?:'s|\s+is)\s+(?P<v>.+)", _name),
        (r"\bI\s+go\s+by\s+(?P<v>.+)", _name),
        (r"\b(?:everyone|people|friends|they)\s+calls?\s+me\s+(?P<v>.+)", _name),
        (
            r"^(?:(?:hi|hello|hey)(?:\s+there)?[,!]?\s+)?(?:I'm|I\s+am|this\s+is)\s+"
            r"(?P<v>[A-Z][a-z]+(?:\s+[A-Z][a-z]+)?)(?P<rest>\s*,.*)?$",
            _introduced,
        ),
        (
            r"^(?:(?:hi|hello|hey)(?:\s+there)?[,!]?\s+)?(?P<v>[A-Z][a-z]+)\s+(?:here|speaking)"
            r"(?P<rest>\s*,.*)?$",
            _introduced,
        ),
        (rf"\b{_I_AM}\s+called\s+(?P<v>.+)", _name),
        # job before employer: "I work as" is a job, "I work at" an employer
        (rf"\bI\s+{_NOW}work\s+as\s+(?P<v>.+)", _job),
        (rf"\b{_I_AM}\s+{_NOW}working\s+as\s+(?P<v>.+)", _job),
        (rf"\bI(?:'ve| have)?\s+{_NOW}(?:become|became|trained as|retrained as)\s+(?P<v>.+)", _job),
        (
            rf"\bI(?:'ve| have)?\s+{_NOW}(?:got|landed|found|took|taken|accepted|started|been\s+"
            r"offered|was\s+offered)\s+(?:a|the|my)\s+(?:(?:new|first|full[- ]time|part[- ]time|"
            r"permanent|temporary|dream)\s+)*(?:job|position|role|post)\s+(?:with|at)\s+"
            r"(?P<org>.+?)\s+as\s+(?P<v>.+)",
            _job_with,
        ),
        (
            rf"\bI(?:'ve| have)?\s+{_NOW}(?:got|landed|found|took|taken|accepted|started|been\s+"
            r"offered|was\s+offered)\s+(?:a|the|my)\s+(?:(?:new|first|full[- ]time|part[- ]time|"
            r"permanent|temporary|dream)\s+)*(?:job|position|role|post)\s+as\s+(?P<v>.+)",
            _job,
        ),
        (
            r"\bI(?:'ve|\s+have|\s+was|\s+got|'ve\s+got)?\s+(?:just\s+|finally\s+)?(?:been\s+|got\s+)?"
            r"promoted\s+to\s+(?P<v>.+)",
            _promoted,
        ),
        (
            rf"\b{_I_AM}\s+{_NOW}the\s+(?P<v>(?:[\w-]+\s+){{0,2}}(?:{_ROLES})(?:\s+(?:of|at|for)\s+.+)?)$",
            _job,
        ),
        (rf"\bI\s+{_NOW}teach\s+(?P<v>.+)", _teach),
        # "I manage a pharmacy in Alexandria", "I run a small bakery": a job (and the place)
        (
            rf"\bI\s+{_NOW}(?P<verb>manage|run|own)\s+(?P<v>(?:an?|the|my|our)\s+(?:[\w'-]+\s+){{0,3}}"
            rf"(?:{_BUSINESSES})\b.*)",
            _runs,
        ),
        (
            rf"\b{_I_AM}\s+{_NOW}(?:an?\s+)?(?P<v>(?:[\w-]+\s+){{0,2}}(?:{_JOBS})\b"
            rf"(?:\s+(?:(?:at|for|with|in)\s+(?-i:{_CAP})|(?:at|for|with)\s+{_WORKPLACE}).*)?)"
            r"(?:\s+(?:by profession|by trade))?",
            _job,
        ),
        (rf"\bI\s+{_NOW}work\s+(?:at|for|with)\s+(?P<v>.+)", _employer),
        (
            rf"\b{_I_AM}\s+{_NOW}(?:working|employed|hired)\s+(?:at|for|by)\s+(?P<v>.+)",
            _employer,
        ),
        (
            rf"\bI(?:'ve| have)?\s+{_NOW}(?:joined|started\s+(?:working\s+)?at|started\s+a\s+"
            r"(?:new\s+)?job\s+at|got\s+a\s+(?:new\s+)?job\s+(?:at|with)|took\s+a\s+job\s+at|"
            r"signed\s+(?:on\s+)?with)\s+(?P<v>.+)",
            _employer,
        ),
        (
            rf"\b(?P<v>(?-i:{_CAP})[\w&' -]+?)\s+(?:hired|recruited|took\s+on|has\s+hired|"
            r"offered\s+me\s+a\s+job)\s*(?:me)?\b",
            _employer,
        ),
        # where from, diet, age, car, languages, birthday
        (rf"\b{_I_AM}\s+(?:originally\s+)?from\s+(?P<v>.+)", _keyed("hometown", "I am from {v}")),
        (r"\bI\s+(?:grew\s+up|was\s+raised)\s+in\s+(?P<v>.+)", _keyed("hometown", "I am from {v}")),
        (r"\bI\s+was\s+born\s+(?:in|on)\s+(?P<v>.+)", _born),
        (
            rf"\b(?:{_I_AM}\s+(?:not|no\s+longer)\s+(?:a\s+)?(?P<v>{_DIETS})|I\s+(?:stopped|quit)\s+"
            rf"being\s+(?:a\s+)?(?P<w>{_DIETS}))\b",
            _not_diet,
        ),
        (
            rf"\bI(?:'m|\s+am)?\s+{_NOW}(?:eat|eating)\s+(?P<v>meat|fish|dairy|eggs|pork|beef|"
            r"chicken)\s+again\b",
            _eats_again,
        ),
        (rf"\b{_I_AM}\s+{_NOW}(?:a\s+)?(?P<v>{_DIETS})\b", _keyed("diet", "I am {v}")),
        (
            rf"\b{_I_AM}\s+{_NOW}(?:very\s+|severely\s+)?allergic\s+to\s+(?P<v>.+)",
            _keyed("allergy", "I am allergic to {v}"),
        ),
        (
            rf"\b(?:{_I_AM}|I\s+just\s+turned|I\s+turned)\s+(?P<v>\d{{1,3}})(?:\s+years?\s+old)?"
            r"\s*$",
            _age,
        ),
        (
            rf"\bI\s+{_NOW}(?:usually\s+|normally\s+)?(?P<v>drive|cycle|walk|bike|run|cycle|ride)"
            r"\s+to\s+(?:work|the\s+office|the\s+studio|school|the\s+hospital)\b",
            _keyed("commute", "I get to work by {v}"),
        ),
        (
            rf"\bI\s+{_NOW}drive\s+(?:an?\s+|the\s+|my\s+)?(?P<v>(?!(?:to|into|around|home|"
            r"everywhere|there|back|in|at)\b).+)",
            _keyed("car", "I drive {v}"),
        ),
        (rf"\bI\s+{_NOW}speak\s+(?P<v>.+)", _languages),
        # team, instrument, learning
        (rf"\bI\s+{_NOW}(?:support|root\s+for|cheer\s+for)\s+(?P<v>.+)", _team),
        (
            rf"\b{_I_AM}\s+{_NOW}(?:an?\s+)?(?:(?:big|huge|lifelong|life-long|die-hard|loyal)\s+)?"
            r"(?P<v>[\w' -]+?)\s+supporter\b",
            _team,
        ),
        (
            r"^(?P<v>[\w' -]{2,40}?)\s+(?:is|are)\s+(?:now\s+)?my\s+(?:football\s+|soccer\s+|"
            r"hockey\s+|basketball\s+|rugby\s+)?(?:club|team)\b",
            _team,
        ),
        (
            rf"\bI(?:'ve\s+been|'m|\s+am|\s+have\s+been)?\s+{_NOW}(?:play|playing|learning|"
            r"learn|started\s+learning|taking\s+up|took\s+up|picked\s+up)\s+(?:to\s+play\s+)?"
            rf"(?:the\s+)?(?P<v>{_INSTRUMENTS})\b",
            _instrument,
        ),
        (
            rf"\bI(?:'m|\s+am|'ve\s+been|\s+have\s+been)\s+{_NOW}(?:learning|studying)\s+"
            r"(?P<v>.+)",
            _learning,
        ),
        # a thing used for something
        (
            rf"\bI\s+{_NOW}(?:usually\s+|mostly\s+|mainly\s+)?(?:use|draw\s+on|draw\s+with|"
            r"work\s+on|write\s+on|write\s+with|type\s+on|paint\s+with|play\s+on|game\s+on)"
            r"\s+(?P<v>.+?)\s+for\s+(?P<p>[\w -]+)$",
            _uses_for,
        ),
        (
            r"\bI(?:'ve|\s+have)?\s+(?:now\s+|just\s+|finally\s+)?(?:switched|changed|moved\s+"
            r"over|upgraded|downgraded)\s+to\s+(?P<v>.+?)\s+for\s+(?P<p>[\w -]+)$",
            _uses_for,
        ),
        (
            rf"\bI\s+{_NOW}(?:usually\s+|normally\s+)?(?:take|get|ride|catch)\s+(?:the\s+|a\s+)?"
            r"(?P<v>[\w -]+?)\s+to\s+(?:work|the\s+office)\b",
            _keyed("commute", "I get to work by {v}"),
        ),
        (
            rf"\bI\s+{_NOW}(?:usually\s+|normally\s+)?commute\s+(?:by|on|with)\s+(?:the\s+|a\s+)?"
            r"(?P<v>[\w -]+)",
            _keyed("commute", "I get to work by {v}"),
        ),
        (
            rf"\bI(?:'ve|\s+have)?\s+{_NOW}(?:started\s+)?(?P<v>cycling|walking|driving|biking|"
            r"running|scootering)\s+to\s+(?:work|the\s+office)\b",
            _keyed("commute", "I get to work by {v}"),
        ),
        (
            rf"\bI\s+{_NOW}(?:mostly\s+|mainly\s+|usually\s+)?(?:write|code\s+in|program\s+in)"
            r"\s+(?P<v>[A-Z][\w+#.-]*)",
            _keyed("programming language", "I mostly write {v}"),
        ),
        (r"\bI\s+have\s+an?\s+(?P<thing>[\w -]+?)\s+(?:named|called)\s+(?P<v>.+)", _named),
        (
            r"\bmy\s+(?P<thing>(?:[\w-]+\s+){0,2}?[\w-]+)\s+(?P<verb>is|are|'s|'re)\s+"
            r"(?:called|named)\s+(?P<v>.+)",
            _called,
        ),
        (
            r"\bI\s+have\s+(?P<v>\d+|no|one|two|three|four|five|six)\s+(?P<thing>kids|children|"
            r"sons|daughters|cats|dogs|siblings|brothers|sisters|grandchildren)\b",
            _count,
        ),
        # preferences: dislikes before likes ("I don't like" contains "like")
        (
            rf"\bI\s+(?:do\s+not|don't|no\s+longer|don't\s+really|never|really\s+don't)\s+{_NOW}"
            r"(?:like|enjoy|love|care\s+for)\s+(?P<v>.+)",
            _likes(False),
        ),
        (
            r"\bI(?:\s+(?:really|absolutely|kind of|now))?(?:\s+|(?='))(?:dislike|hate|detest|"
            r"loathe|can't\s+stand|cannot\s+stand|can't\s+bear|have\s+gone\s+off|'ve\s+gone\s+off|"
            r"went\s+off|stopped\s+liking|got\s+tired\s+of|am\s+tired\s+of|'m\s+tired\s+of)\s+(?P<v>.+)",
            _likes(False),
        ),
        (
            rf"\b{_I_AM}\s+(?:not|no\s+longer)\s+(?:really\s+)?(?:into|a\s+fan\s+of|fond\s+of)\s+"
            r"(?P<v>.+)",
            _likes(False),
        ),
        (
            r"\bI(?:'d|\s+would)?\s+(?:(?:now|really|much|generally|usually|definitely|strongly)"
            r"\s+)?(?:prefer|rather\s+have)\s+(?P<v>.+?)(?:\s+(?:to|over|rather\s+than|instead\s+"
            r"of|than)\s+(?P<w>.+))?$",
            _prefers,
        ),
        (
            r"\bI(?:'d|\s+would)\s+rather\s+(?:have|drink|eat|take|use|get)?\s*(?P<v>.+?)"
            r"(?:\s+(?:than|over|instead\s+of)\s+(?P<w>.+))?$",
            _prefers,
        ),
        (
            r"\bI(?:'d|\s+would)\s+(?:always\s+)?(?:pick|choose|take|go\s+for)\s+(?P<v>.+?)"
            r"\s+(?:over|rather\s+than|instead\s+of)\s+(?P<w>.+)$",
            _prefers,
        ),
        (
            r"^(?:(?:honestly|actually|well|so|now|lately|nowadays|these\s+days)[,\s]+)*"
            r"(?P<v>[\w' -]{2,40}?)\s+(?:suits?|works?|is|are)\s+(?:much\s+|far\s+)?(?:better\s+"
            r"for\s+me|me\s+better|better\s+for\s+me)(?:\s+(?:now|these\s+days|nowadays))?"
            r"(?:\s+than\s+(?P<w>.+))?$",
            _comparative,
        ),
        (
            rf"\bI\s+{_NOW}(?:really\s+|absolutely\s+|do\s+)?(?:like|love|enjoy|adore)\s+(?P<v>.+)",
            _likes(True),
        ),
        (
            rf"\b{_I_AM}\s+{_NOW}(?:really\s+|very\s+|big\s+)?(?:an?\s+(?:(?:big|huge|lifelong|"
            r"massive|die-hard)\s+)?fan\s+of)\s+(?P<v>[A-Z\u00c0-\u00de].+)",
            _fan,
        ),
        (
            rf"\b{_I_AM}\s+{_NOW}(?:really\s+|very\s+|big\s+)?(?:into|a\s+(?:big\s+|huge\s+)?fan\s+"
            r"of|fond\s+of|keen\s+on|crazy\s+about|mad\s+about|passionate\s+about|obsessed\s+with|"
            r"hooked\s+on)\s+(?P<v>.+)",
            _likes(True),
        ),
        (
            r"\bI(?:'ve|\s+have)?\s+(?:now\s+|just\s+|finally\s+)?(?:switched|changed|moved\s+"
            r"over)\s+to\s+(?P<v>.+)",
            _prefers_switch,
        ),
        # possessions
        (
            r"\bI(?:'ve\s+got|\s+have\s+got|\s+own|\s+have|\s+bought|'ve\s+bought)\s+"
            r"(?:(?:now|just|also|recently)\s+)?an?\s+(?P<v>.+)",
            _possession,
        ),
        # my X is Y; Y is my favourite X
        (
            r"\b(?P<v>[\w' -]{1,40}?)\s+(?:is|are)\s+my\s+(?P<k>(?:all-time\s+)?(?:favou?rite|"
            r"preferred|usual|go-to)\s+[\w ]{1,30})$",
            _is_my,
        ),
        (
            r"\bmy\s+(?P<k>(?:[\w-]+(?:'s)?\s+){0,3}?[\w-]+)\s+(?:is|are|'s)\s+(?:now\s+)?(?P<v>.+)",
            _my_is,
        ),
    )
)


_RELATION = re.compile(
    rf"\b(?:[Mm]y|[Oo]ur)\s+(?P<thing>(?:(?:little|older|younger|big|baby|eldest|youngest|"
    rf"twin|new)\s+)?(?:{RELATIONS}))\s*,?\s+(?P<v>[A-Z\u00c0-\u00de][\w'-]+"
    r"(?:\s+[A-Z][\w'-]+)?)",
)
_RELATION_STATEMENT = re.compile(r"^my (?:[\w-]+ )?[\w-]+'s name is ")


#: A turn of at most this many words may give notes without a first-person word, each of
#: at most :data:`_SHORT_NOTE_WORDS` words.
_SHORT_TURN_WORDS = 40
_SHORT_NOTE_WORDS = 20


def statement_key(text: str) -> str:
    """The key of a note: a short hash of its normalised words."""
    words = " ".join(re.findall(r"[\w']+", text.casefold()))
    return "note:" + hashlib.sha256(words.encode()).hexdigest()[:10]


def mentions_user(text: str) -> bool:
    """Whether ``text`` speaks of the user (I, my, me, we, our): only such a question is
    personalised with the user's facts, and only such a turn can hold one."""
    return bool(_FIRST_PERSON.search(text.translate(_APOSTROPHES)))


def is_statement_about_user(clause: str) -> bool:
    """A first-person clause that is not a question (what a note may be made of)."""
    return bool(_FIRST_PERSON.search(clause)) and not _QUESTION.search(clause)


class RuleExtractor:
    """:class:`FactExtractor` by rules (the module docstring's table); ``notes``: a
    first-person statement no rule reads becomes a ``note`` (of ``min_note_words`` or more:
    "I bike everywhere", "Based in Aarhus", "I swim now" are facts too)."""

    def __init__(self, *, notes: bool = True, min_note_words: int = 2) -> None:
        self.notes = notes
        self.min_note_words = min_note_words

    def read(self, clause: str) -> FactCandidate | None:
        """The first fact :meth:`read_all` finds in one clause, or None."""
        found = self.read_all(clause)
        return found[0] if found else None

    def read_all(self, clause: str) -> list[FactCandidate]:
        """The facts of one clause: a person or pet it names ("my sister Inês …"), then the
        first rule that reads it (a job with its employer gives both)."""
        if _QUESTION.search(clause):
            return []
        out: list[FactCandidate] = []
        named = _RELATION.search(clause)
        if named is not None:
            fact = _relation_name(named)
            if fact is not None:
                out.append(fact)
        for pattern, build in RULES:
            if out and build is _my_is:
                break  # "my husband Arjun is a chef": not a key "husband arjun"
            m = pattern.search(clause)
            if m is None:
                continue
            built = build(m)
            if built is None:
                continue
            facts = built if isinstance(built, list) else [built]
            keys = {f.key for f in out}
            out += [f for f in facts if f.key not in keys]
            break
        return [FactCandidate(f.key, f.value, f.statement, f.kind, clause=clause) for f in out]

    def extract(self, text: str, *, keys: Sequence[str] = ()) -> list[FactCandidate]:
        out: list[FactCandidate] = []
        seen: set[str] = set()
        # A short turn is the user telling about themselves even without "I" ("The chess
        # club moved to Tuesdays", "Switched over to an iPhone 15"); a long one may be a
        # pasted text, whose sentences are not the user's facts.
        short = len(text.split()) <= _SHORT_TURN_WORDS
        for clause in clauses(text):
            facts = self.read_all(clause)
            about_others = bool(facts) and all(
                _RELATION_STATEMENT.match(f.statement) for f in facts
            )
            worthy = self.notes and self._note_worthy(clause, short)
            if (not facts or about_others) and worthy:
                # a clause about someone the user names says more than the name
                facts.append(FactCandidate(statement_key(clause), clause, clause, "note", clause))
            for fact in facts:
                if fact.key not in seen:
                    seen.add(fact.key)
                    out.append(fact)
        return out

    def _note_worthy(self, clause: str, short_turn: bool = False) -> bool:
        words = len(clause.split())
        about_user = is_statement_about_user(clause) or (
            short_turn and words <= _SHORT_NOTE_WORDS and not _QUESTION.search(clause)
        )
        return about_user and words >= self.min_note_words and forget_request(clause) is None


# --------------------------------------------------------------------------- changes

_GIVEN_UP = (
    r"sold|left|quit|ditched|dropped|gave\s+up(?:\s+on)?|got\s+rid\s+of|moved\s+(?:out\s+of|"
    r"away\s+from)|stopped\s+[a-z]+ing|no\s+longer\s+[a-z]+|lost|crashed|totall?ed|wrote\s+off|"
    r"retired\s+from|resigned\s+from|handed\s+back|returned|broke\s+up\s+with|split\s+up\s+with|"
    r"stole|smashed|wrecked|finished|completed"
)
#: Ways of saying that something of the user's was replaced; ``old`` names what is no
#: longer so ("I traded the Peugeot for a Dacia", "matcha instead of green tea").
_CHANGES = tuple(
    re.compile(p, re.I)
    for p in (
        r"\b(?:traded|swapped|exchanged|switched|changed)\s+(?:in\s+)?(?P<old>.+?)\s+for\s+"
        r"(?P<new>.+)$",
        r"\breplaced\s+(?P<old>.+?)\s+with\s+(?P<new>.+)$",
        r"^(?P<new>.+?)\s+(?:has|have)\s+replaced\s+(?P<old>.+?)(?:\s+as\s+.*)?$",
        r"\b(?:left|quit|ditched|dropped)\s+(?P<old>.+?)\s+for\s+(?P<new>.+)$",
        r"\b(?:switched|changed|moved|went|converted|upgraded|downgraded|graduated)\s+from\s+"
        r"(?P<old>.+?)\s+to\s+(?P<new>.+)$",
        r"^(?P<new>.+?)\s+(?:instead\s+of|rather\s+than|in\s+place\s+of)\s+(?P<old>.+)$",
        r"^(?P<new>.+?),\s*(?:but\s+)?(?:not|no\s+longer)\s+(?P<old>[^,]+)$",
        rf"\b(?:{_GIVEN_UP})\s+(?P<old>.+?)(?:\s*(?:,|\s+and|\s+so)\s+(?P<new>.+))?$",
        r"^(?P<old>(?:the|my|our)\s+.+?)\s+(?:is|are|was|were)\s+(?:now\s+)?(?:gone|over|history|"
        r"no\s+more|dead|broken|sold|finished)\b",
        r"\b(?:the|my|our)\s+(?P<old>[\w' -]+?)\s+(?:died|broke(?:\s+down)?|was\s+stolen|got\s+"
        r"stolen|stopped\s+working|gave\s+up|was\s+written\s+off)\b",
        r"^(?P<old>(?-i:[A-Z\u00c0-\u00de])[\w&' -]+?)\s+(?:let\s+me\s+go|laid\s+me\s+off|"
        r"fired\s+me|made\s+me\s+redundant)\b(?:\s*,?\s*(?:and|so)\s+(?P<new>.+))?",
        # someone of the user's leaves their role: "Tunde moved out", "Mette retired"
        r"^(?P<old>(?-i:[A-Z\u00c0-\u00de])[\w'-]+(?:\s+(?-i:[A-Z\u00c0-\u00de])[\w'-]+)?)\s+"
        r"(?:has\s+)?(?:moved\s+out|moved\s+away|retired|left|quit|resigned|went\s+back\s+to\s+"
        r"\w+|passed\s+away|died)\b(?:\s*(?:,|\s+and|\s+so)\s+(?P<new>.+))?$",
    )
)
_GOT = re.compile(
    r"^(?:(?:now|then|I|I've|I\s+have|we|we've|just|finally|so)\s+)*(?:picked\s+up|took\s+up|"
    r"switched\s+to|went\s+for|signed\s+with|moved\s+to|bought|got|have|drive|joined|use|took|"
    r"picked|chose|follow|support|ride|play|eat|drink|prefer|started)?\s*",
    re.I,
)


@dataclass(frozen=True, slots=True)
class Change:
    """A clause saying something of the user's was replaced: ``old`` is no longer so,
    ``new`` (may be empty) is what came instead."""

    old: str
    new: str = ""


def change_of(clause: str) -> Change | None:
    """The replacement ``clause`` states, or None ("I traded the Peugeot for a Dacia
    Spring" -> old "the Peugeot", new "a Dacia Spring")."""
    text = clause.translate(_APOSTROPHES).strip(" .!")
    if _QUESTION.search(text):
        return None
    for pattern in _CHANGES:
        m = pattern.search(text)
        if m is None:
            continue
        old = clean_value(m.group("old"))
        new = m.groupdict().get("new") or ""
        new = clean_value(_GOT.sub("", new, count=1)) if new else ""
        if old:
            return Change(old, new)
    return None


# --------------------------------------------------------------------------- forgetting

_FORGET = re.compile(
    r"^\s*(?:(?:please|ok|okay|hey|and)[,\s]+)?(?:(?:can|could|would)\s+you\s+(?:please\s+)?)?"
    r"(?:forget|delete|erase|remove|drop|stop\s+remembering|don't\s+remember|do\s+not\s+remember)"
    r"\s+(?P<what>.+?)\s*[.!?]*\s*$",
    re.I,
)
_EVERYTHING = re.compile(
    r"^(?:(?:all|everything)(?:\s+(?:you\s+know|you\s+remember|I\s+(?:told|said\s+to)\s+you|"
    r"about\s+me|of\s+me|you\s+have\s+on\s+me))*|all\s+(?:my|of\s+my)\s+(?:data|facts|"
    r"information|info|memories)|my\s+(?:data|information|info|memories))(?:\s+about\s+me)?$",
    re.I,
)
_FORGET_LEAD = re.compile(
    r"^(?:(?:that|about|what\s+I\s+(?:said|told\s+you)\s+about|what\s+you\s+know\s+about|"
    r"the\s+fact\s+that)\s+)+",
    re.I,
)


@dataclass(frozen=True, slots=True)
class ForgetRequest:
    """A user asking to forget: everything, or what ``target`` names."""

    everything: bool
    target: str = ""


def forget_request(text: str) -> ForgetRequest | None:
    """The request in "forget that I live in Lyon" / "forget my phone number" / "forget
    everything about me", or None when ``text`` asks no such thing."""
    m = _FORGET.match(text.translate(_APOSTROPHES))
    if m is None:
        return None
    what = _FORGET_LEAD.sub("", m.group("what").strip()).strip(" .!?")
    if not what:
        return None
    if _EVERYTHING.match(what):
        return ForgetRequest(True)
    if not _FIRST_PERSON.search(what) and not what.casefold().startswith(("where", "what")):
        return None  # "forget the previous question": not about the user's facts
    return ForgetRequest(False, what)


#: Words of a question that point at any preference ("do I like …", "what am I into").
PREFERENCE_CUES = frozenset(["like", "likes", "love", "enjoy", "into", "fan", "hate", "prefer"])
#: … and at any choice ("which … do I prefer", "would I rather").
CHOICE_CUES = frozenset(["prefer", "preferred", "rather", "choice", "favorite", "favourite"])
#: … and at what one is a fan of ("which team do I support", "who do I follow").
FAN_CUES = frozenset(["fan", "support", "supporter", "follow", "team", "club", "favorite"])


#: Questions that name a key by a phrase, not a word ("What do I do?": "do" alone is in
#: every question).
_ASKED_KEYS = (
    (
        re.compile(
            r"\bwhat\s+(?:do|did)\s+(?:i|you)\s+do\b(?!\s+(?:for\s+fun|about|with|if|when|to|in\s+my))",
            re.I,
        ),
        "job",
    ),
    (re.compile(r"\b(?:line\s+of\s+work|for\s+a\s+living|what\s+i\s+do)\b", re.I), "job"),
)


def asked_keys(question: str) -> frozenset[str]:
    """The keys a question names by a phrase (:data:`_ASKED_KEYS`)."""
    return frozenset(key for pattern, key in _ASKED_KEYS if pattern.search(question))


def key_words(key: str) -> set[str]:
    """The words a question may use for a key (its own and its cues)."""
    if key.startswith("note:"):
        return set()
    family, _, base = key.rpartition(":")
    words = set(re.findall(r"[a-z]+", base.casefold())) | set(KEY_CUES.get(key, ()))
    if family == "preference":
        words |= PREFERENCE_CUES
    elif family == "prefers":
        words |= CHOICE_CUES
    elif family == "fan":
        words |= FAN_CUES
    return words


def any_of(candidates: Sequence[FactCandidate], key: str) -> FactCandidate | None:
    return next((c for c in candidates if c.key == key), None)


__all__ = [
    "KEY_ALIASES",
    "KEY_CUES",
    "RELATIONS",
    "RULES",
    "Change",
    "FactCandidate",
    "FactExtractor",
    "ForgetRequest",
    "RuleExtractor",
    "asked_keys",
    "change_of",
    "clauses",
    "clean_value",
    "forget_request",
    "is_statement_about_user",
    "key_words",
    "mentions_user",
    "normalise_key",
    "statement_key",
]
