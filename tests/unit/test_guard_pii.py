"""The PII guard on the real Presidio + spaCy (en_core_web_sm) pipeline, and its redaction.

No mocks: the analyzer is built once for the module (about 4 s). The suite runs under
pytest-socket, so a recognizer that touched the network (tldextract's suffix list) fails here.
"""

from __future__ import annotations

import os
import socket
import time

import pytest

from ragline.config import Settings
from ragline.guard.base import Flag, Guard, GuardContext
from ragline.guard.pii import PiiGuard
from ragline.guard.redaction import Placeholders, merge_spans, redact, restore


@pytest.fixture(scope="module")
def guard() -> PiiGuard:
    g = PiiGuard(Settings())
    g.warm_up()
    return g


def _found(guard: PiiGuard, text: str, direction: str = "input") -> list[tuple[str, str]]:
    res = guard.scan(text, direction=direction)  # type: ignore[arg-type]
    return [(f.label, text[f.start : f.end]) for f in res.flags]


def test_it_is_a_guard(guard: PiiGuard):
    assert isinstance(guard, Guard)
    assert guard.name == "pii"
    assert guard.directions == {"input", "output", "document"}


@pytest.mark.parametrize(
    ("text", "label", "value"),
    [
        # phones without a country code, found with a cue word
        ("They're not answering at 78 651 450", "PHONE_NUMBER", "78 651 450"),
        ("Mobile: 0490 39 07 81", "PHONE_NUMBER", "0490 39 07 81"),
        ("Desk: +41 (0)96 471 07 95", "PHONE_NUMBER", "+41 (0)96 471 07 95"),
        # a card number failing the Luhn check, with a cue
        ("What is the limit for card 584528792610?", "CREDIT_CARD", "584528792610"),
        ("This 79 year old female complaining of stomach pain.", "AGE", "79"),
        ("My brother just turned 60", "AGE", "60"),
        ("My ZIP: 75534-030", "ZIP_CODE", "75534-030"),
        # ages in other forms
        ("I am a 34-year-old nurse", "AGE", "34"),
        ("My son, aged 12, plays chess", "AGE", "12"),
        ("My age: 41", "AGE", "41"),
        ("I was hired at the age of 23", "AGE", "23"),
        ("I'm 34.", "AGE", "34"),
        ("My father is thirty-four years old", "AGE", "thirty-four"),
        ("I saw a woman, 52, at the desk", "AGE", "52"),
        # postal codes by shape beside a place, or after a cue
        ("I live in Austin, TX 78701-1234", "ZIP_CODE", "78701-1234"),
        ("I live at 10 Downing Street, London SW1A 2AA", "ZIP_CODE", "SW1A 2AA"),
        ("I moved to Toronto, ON M5V 3L9", "ZIP_CODE", "M5V 3L9"),
        ("I live at Hauptstr. 5, 10115 Berlin", "ZIP_CODE", "10115"),
        ("my zip code is 90210", "ZIP_CODE", "90210"),
        # nationalities, religions, political groups from the word list
        ("I am cambodian but I live in Belgium.", "NRP", "cambodian"),
        ("I'm a practising Buddhist", "NRP", "Buddhist"),
        ("My uncle is a Republican", "NRP", "Republican"),
        # dates and times in written forms
        ("I logged in on 2007-01-17 23:08:55 from home", "DATE_TIME", "2007-01-17 23:08:55"),
        ("I was born on 2/8/1935", "DATE_TIME", "2/8/1935"),
        ("Call me on April 5th, 2020 at 5 pm", "DATE_TIME", "5 pm"),
        ("We'll meet Monday at my office", "DATE_TIME", "Monday"),
        ("correct it to Dr. Cettina Fanucci?", "TITLE", "Dr."),
        ("I work for Aunt Bertha Inc", "ORGANIZATION", "Aunt Bertha Inc"),
        ("The bus drops you off at 07576 Magasinsgatan 7 St.", "STREET_ADDRESS", None),
        ("Meet me at P.O. Box 149, Springfield", "STREET_ADDRESS", None),
        ("Please return to Unit 4719 Box 7394\nDPO AP 70942 today", "STREET_ADDRESS", None),
        (
            "my key is sk-proj-4f9a8b7c6d5e4f3a2b1c0d9e",
            "API_KEY",
            "sk-proj-4f9a8b7c6d5e4f3a2b1c0d9e",
        ),
        ("aws AKIAIOSFODNN7EXAMPLE in the config", "API_KEY", "AKIAIOSFODNN7EXAMPLE"),
        ("token ghp_abcdefghijklmnopqrstuvwxyz0123456789", "API_KEY", None),
        ("password: hunter2!x", "PASSWORD", "hunter2!x"),
        ("db at postgresql://app:s3cretPw@db.internal/prod", "PASSWORD", "s3cretPw"),
        ("-----BEGIN RSA PRIVATE KEY-----\nMIIEow\n-----END RSA PRIVATE KEY-----", "API_KEY", None),
        # Presidio's own recognizers, through the guard
        ("My IBAN is GB59IFUE40226315499137", "IBAN_CODE", "GB59IFUE40226315499137"),
        ("client_ip = 106.31.73.20", "IP_ADDRESS", "106.31.73.20"),
        ("write to UtaKortig@jourrapide.com", "EMAIL_ADDRESS", "UtaKortig@jourrapide.com"),
        ("Here's my SSN: 460-89-9847", "US_SSN", "460-89-9847"),
    ],
)
def test_each_rule_finds_its_format(guard: PiiGuard, text: str, label: str, value: str | None):
    found = _found(guard, text)
    labels = [lab for lab, _ in found]
    assert label in labels, found
    if value is not None:
        assert (label, value) in found, found


@pytest.mark.parametrize(
    ("text", "label"),
    [
        ("I need a conservative estimate of my costs", "NRP"),  # an adjective, lower case
        ("Can you translate my letter into English?", "NRP"),  # a language
        ("I'm 5 minutes away", "AGE"),  # not followed by an end of clause
        ("I upgraded my PC from Windows 2000", "ZIP_CODE"),  # a year after a name
        ("My order number is 1234", "ZIP_CODE"),
    ],
)
def test_new_rules_leave_look_alikes_alone(guard: PiiGuard, text: str, label: str):
    assert label not in [lab for lab, _ in _found(guard, text)]


def test_an_age_or_postal_code_alone_is_a_quasi_identifier(guard: PiiGuard):
    assert _found(guard, "What dose of ibuprofen is safe for a 5-year-old?") == []
    assert _found(guard, "Which city has the postcode SW1A 2AA?") == []
    assert ("AGE", "5") in _found(guard, "My son is a 5-year-old")


def test_an_address_block_is_one_span(guard: PiiGuard):
    text = "William Hughes\n\n20789 Allika 46\n Suite 501\n Riisa\n\n Estonia 62488"
    found = _found(guard, text)
    assert ("STREET_ADDRESS", "20789 Allika 46\n Suite 501\n Riisa\n\n Estonia 62488") in found


def test_a_contact_card_heading_is_name_title_and_company(guard: PiiGuard):
    text = "Karin M. Beike\nLeasing consultant\nFritz-Armstrong\n12 Main Street\nSpringfield"
    found = _found(guard, text)
    assert ("PERSON", "Karin M. Beike") in found
    assert ("TITLE", "Leasing consultant") in found
    assert ("ORGANIZATION", "Fritz-Armstrong") in found


def test_speakers_of_a_dialogue_are_names_but_form_fields_are_not(guard: PiiGuard):
    found = _found(guard, "Ubul: What a day.\nPhone: Call me later.\nNicole: Remember me?")
    people = {v for lab, v in found if lab == "PERSON"}
    assert {"Ubul", "Nicole"} <= people and "Phone" not in people


def test_scans_from_many_threads_agree(guard: PiiGuard):
    from concurrent.futures import ThreadPoolExecutor

    texts = [
        f"Hi, I'm Jane Doe {i}, mail jane{i}@example.com, card 4111 1111 1111 1111"
        for i in range(12)
    ]
    alone = [guard.scan(t, direction="input").flags for t in texts]
    with ThreadPoolExecutor(4) as pool:
        together = list(pool.map(lambda t: guard.scan(t, direction="input").flags, texts))
    assert together == alone


@pytest.mark.parametrize(
    "question",
    [
        "What is the capital of France?",
        "How do I reset the password policy for new accounts?",
        "What are the side effects of ibuprofen?",
        "Summarise the refund policy in three bullet points.",
        "Which chapter explains gradient descent?",
        "How many vacation days do employees get after 5 years?",
        "What did the 2023 annual report say about revenue growth in Europe?",
        "Can you explain how the API rate limits work?",
        "",
        "   \n\t ",
    ],
)
def test_plain_questions_are_not_flagged(guard: PiiGuard, question: str):
    res = guard.scan(question, direction="input")
    assert res.flags == (), [(f.label, question[f.start : f.end]) for f in res.flags]
    assert res.error is None


def test_quasi_identifiers_in_a_personal_text_are_flagged(guard: PiiGuard):
    found = _found(guard, "I moved here from Kenosha in March 2019")
    assert {"LOCATION", "DATE_TIME"} <= {lab for lab, _ in found}


def test_always_flags_quasi_identifiers_when_configured():
    g = PiiGuard(Settings(guard={"pii_quasi_identifiers": "always"}))
    assert "LOCATION" in [lab for lab, _ in _found(g, "What is the capital of France?")]


def test_flags_carry_type_score_span_and_no_value(guard: PiiGuard):
    text = "Call Jane Doe at jane.doe@example.com"
    res = guard.scan(text, direction="input")
    assert res.guard == "pii" and res.latency_ms > 0
    by_label = {f.label: f for f in res.flags}
    email = by_label["EMAIL_ADDRESS"]
    assert text[email.start : email.end] == "jane.doe@example.com"
    assert 0.4 <= email.score <= 1.0
    for f in res.flags:
        assert f.guard == "pii" and f.detail
        assert text[f.start : f.end] not in f.detail  # the detail never echoes the value


def test_threshold_comes_from_settings():
    strict = PiiGuard(Settings(guard={"pii_threshold": 0.99}))
    text = "They're not answering at 78 651 450, mail me at a.b@example.com"
    labels = [lab for lab, _ in _found(strict, text)]
    assert labels == ["EMAIL_ADDRESS"]  # e-mail scores 1.0; the phone rule 0.65


def test_entity_list_from_settings():
    only = PiiGuard(Settings(guard={"pii_entities": ["EMAIL_ADDRESS"]}))
    assert [lab for lab, _ in _found(only, "Jane Doe, jane@example.com, 212-555-0134")] == [
        "EMAIL_ADDRESS"
    ]


def test_an_unknown_entity_name_is_a_clear_error():
    from ragline.errors import ConfigError

    bad = PiiGuard(Settings(guard={"pii_entities": ["EMAIL_ADRESS"]}))
    with pytest.raises(ConfigError, match=r"EMAIL_ADRESS.*known"):
        bad.scan("mail a@example.com", direction="input")


def test_output_pii_copied_from_the_sources_is_not_a_leak(guard: PiiGuard):
    sources = ["Contact the HR office: Maria Lopez, phone 212-555-0134, hr@example.com."]
    answer = "Write to hr@example.com or call (212) 555-0134. Bob's card is 4111 1111 1111 1111."
    ctx = GuardContext(sources=sources)
    res = guard.scan(answer, direction="output", context=ctx)
    leaked = {(f.label, answer[f.start : f.end]) for f in res.flags}
    assert ("CREDIT_CARD", "4111 1111 1111 1111") in leaked
    assert not any(value in ("hr@example.com", "(212) 555-0134") for _, value in leaked)
    # the same answer as input (no sources): everything is flagged
    assert len(guard.scan(answer, direction="input").flags) > len(res.flags)


def test_digits_of_two_source_numbers_do_not_make_a_match(guard: PiiGuard):
    ctx = GuardContext(sources=["Room 12, extension 3456789, floor 4."])
    answer = "You can call me on 234-5678 tonight."
    res = guard.scan(answer, direction="output", context=ctx)
    assert ("PHONE_NUMBER", "234-5678") in {(f.label, answer[f.start : f.end]) for f in res.flags}


def test_binary_junk_does_not_crash(guard: PiiGuard):
    junk = bytes(range(256)).decode("latin-1") * 8 + "\x00\ufffd\udc80".encode(
        "utf-8", "surrogatepass"
    ).decode("utf-8", "replace")
    res = guard.scan(junk, direction="input")
    assert res.error is None
    for f in res.flags:
        assert 0 <= f.start < f.end <= len(junk)


def test_a_megabyte_is_scanned_in_windows(guard: PiiGuard):
    filler = "The quarterly report covers revenue, costs and the outlook for next year. "
    text = filler * (1_000_000 // len(filler))
    middle = len(text) // 2
    text = text[:middle] + " write to leak.me@example.com please " + text[middle:]
    t0 = time.perf_counter()
    res = guard.scan(text, direction="input")
    elapsed = time.perf_counter() - t0
    emails = [f for f in res.flags if f.label == "EMAIL_ADDRESS"]
    assert len(emails) == 1  # found once, although the windows overlap
    assert text[emails[0].start : emails[0].end] == "leak.me@example.com"
    print(f"1 MB scanned in {elapsed:.1f} s")  # measured in benchmarks, not asserted


def test_a_span_across_a_window_cut_is_found_whole():
    g = PiiGuard(Settings(guard={"pii_chunk_chars": 1000}))
    text = "word " * 199 + "mail jane.roe@example.com now " + "word " * 300
    found = _found(g, text)
    assert ("EMAIL_ADDRESS", "jane.roe@example.com") in found


def test_no_network_is_used(guard: PiiGuard, monkeypatch: pytest.MonkeyPatch):
    def refuse(*args, **kwargs):
        raise AssertionError("the PII guard opened a network connection")

    monkeypatch.setattr(socket.socket, "connect", refuse)
    monkeypatch.setattr(socket, "create_connection", refuse)
    # a fresh extractor, as on a new machine: its first e-mail triggers the suffix list
    import tldextract.tldextract as tld

    from ragline.guard.pii import _offline_tldextract

    _offline_tldextract()
    monkeypatch.setenv("TLDEXTRACT_CACHE", os.devnull)
    found = _found(guard, "mail x.y@sub.example.co.uk and see https://example.org/a")
    assert ("EMAIL_ADDRESS", "x.y@sub.example.co.uk") in found
    assert tld.TLD_EXTRACTOR.suffix_list_urls == ()


# --- redaction ---------------------------------------------------------------------------


def _flag(label: str, start: int, end: int, score: float = 0.9) -> Flag:
    return Flag(guard="pii", label=label, score=score, start=start, end=end)


def test_redaction_uses_numbered_placeholders_consistent_in_a_conversation(guard: PiiGuard):
    ph = Placeholders()
    q1 = "Hi, I'm Jane Doe, mail jane@example.com"
    r1 = redact(q1, guard.scan(q1, direction="input").flags, ph)
    assert r1 == "Hi, I'm <PERSON_1>, mail <EMAIL_ADDRESS_1>"
    q2 = "Also cc bob@example.com and jane@example.com"
    r2 = redact(q2, guard.scan(q2, direction="input").flags, ph)
    assert r2 == "Also cc <EMAIL_ADDRESS_2> and <EMAIL_ADDRESS_1>"


def test_the_same_value_is_matched_across_case_and_spacing():
    ph = Placeholders()
    assert ph.placeholder("PERSON", "Jane  Doe") == ph.placeholder("PERSON", "jane doe")
    assert ph.placeholder("PERSON", "John Doe") == "<PERSON_2>"


def test_restore_gives_the_user_back_their_values():
    ph = Placeholders(reversible=True)
    text = "Mail jane@example.com about Jane Doe"
    red = redact(text, [_flag("EMAIL_ADDRESS", 5, 21), _flag("PERSON", 28, 36)], ph)
    assert red == "Mail <EMAIL_ADDRESS_1> about <PERSON_1>"
    answer = "I wrote to <EMAIL_ADDRESS_1> for <PERSON_1>; <PERSON_9> is unknown."
    assert restore(answer, ph) == "I wrote to jane@example.com for Jane Doe; <PERSON_9> is unknown."


def test_not_reversible_keeps_no_values():
    ph = Placeholders(reversible=False)
    red = redact("Mail jane@example.com", [_flag("EMAIL_ADDRESS", 5, 21)], ph)
    assert ph.restore(red) == red
    assert "jane@example.com" not in repr(ph.to_dict())
    again = Placeholders.from_dict(ph.to_dict())  # kept between turns by a store
    assert again.placeholder("EMAIL_ADDRESS", "jane@example.com") == "<EMAIL_ADDRESS_1>"


def test_reversible_map_survives_a_round_trip():
    ph = Placeholders(reversible=True)
    ph.placeholder("PERSON", "Jane Doe")
    again = Placeholders.from_dict(ph.to_dict())
    assert again.restore("<PERSON_1>") == "Jane Doe"
    assert again.placeholder("PERSON", "Bob") == "<PERSON_2>"


def test_overlapping_spans_merge_under_the_strongest_label():
    text = "see jane.doe@example.com now"
    flags = [_flag("URL", 13, 24, 0.5), _flag("EMAIL_ADDRESS", 4, 24, 1.0)]
    assert redact(text, flags) == "see <EMAIL_ADDRESS_1> now"
    merged = merge_spans([_flag("A", 0, 5, 0.9), _flag("B", 3, 9, 0.5), _flag("C", 20, 22)])
    assert [(s, e, f.label) for s, e, f in merged] == [(0, 9, "A"), (20, 22, "C")]


def test_redact_ignores_spanless_flags_and_empty_text():
    assert redact("", []) == ""
    assert redact("hello", [Flag(guard="pii", label="X", score=1.0)]) == "hello"
    assert redact("abc", [_flag("X", 1, 99)]) == "a<X_1>"


def test_a_text_about_he_or_she_is_personal(guard: PiiGuard):
    found = _found(guard, "She moved to Lisbon in March 2019.")
    assert {"LOCATION", "DATE_TIME"} <= {lab for lab, _ in found}, found
    assert _found(guard, "Lisbon became the capital in March 1255.") == []


@pytest.mark.parametrize(
    "claim",
    [
        "Normal expression of RUNX1 has tumor-promoting effects.",
        "Smc5/6 engagment drives the activation of SUMO E3 ligase Mms21.",
        "CCL19 is predominantly present within dLNs.",
    ],
)
def test_gene_and_product_codes_are_not_person_names(guard: PiiGuard, claim: str):
    assert "PERSON" not in [lab for lab, _ in _found(guard, claim)]


def test_name_shapes_that_stay_names():
    from ragline.guard.pii import _not_a_name

    assert not _not_a_name("van de Noort", "I met Piet van de Noort")
    assert not _not_a_name("leidy t muris", "leidy t muris\nlabor relations director")
    assert not _not_a_name("McDonald", "Ask Ronald McDonald")
    assert _not_a_name("RUNX1", "Normal expression of RUNX1")


def test_an_output_sentence_made_of_source_words_skips_ner_but_new_pii_is_still_found(
    guard: PiiGuard, monkeypatch: pytest.MonkeyPatch
):
    source = "Dr. Ann Lee of Lyon answers at ann.lee@example.org or +33 4 72 00 00 00."
    ctx = GuardContext(sources=[source])
    calls: list[str] = []
    real = guard.find
    monkeypatch.setattr(guard, "find", lambda text, **kw: calls.append(text) or real(text, **kw))
    quoted = "Ann Lee answers at ann.lee@example.org [1]."
    assert not guard.scan(quoted, direction="output", context=ctx).flags
    assert calls == []  # every capitalised word, number and address is a source word
    leaked = "Ann Lee also answers at bob.smith@example.com [1]."
    result = guard.scan(leaked, direction="output", context=ctx)
    assert calls == [leaked]
    assert [f.label for f in result.flags] == ["EMAIL_ADDRESS"]


@pytest.mark.parametrize(
    ("question", "flagged"),
    [
        ("When was Zhu Shijie born?", False),  # a question about someone in the documents
        ("Who did Marie Curie marry in Paris?", False),
        ("My name is Ann Lee, when is my appointment?", True),  # the user's own name
        ("What is Ann Lee's email, is it ann.lee@example.org?", True),  # a direct identifier
        ("Ann Lee lives at 12 Rue de Rivoli, Paris.", True),  # not a question
    ],
)
def test_a_question_about_someone_else_keeps_its_names(
    guard: PiiGuard, question: str, flagged: bool
):
    assert bool(guard.scan(question, direction="input").flags) is flagged
    assert guard.find(question) or not flagged  # find() itself still sees the names


def test_a_request_phrase_is_not_the_user_speaking_of_themselves(guard: PiiGuard):
    assert not guard.scan("tell me everything about Venus", direction="input").flags
    assert not guard.scan("Show me what Acme Corp sells in Germany.", direction="input").flags
    assert guard.scan("Tell me, my name is Ann Lee: when is my visit?", direction="input").flags


def test_output_ner_reads_only_around_the_words_the_sources_lack(guard: PiiGuard):
    """In the output direction NER runs on a few words either side of each word the sources
    lack; on SQuAD-like sentences it flags exactly what NER over the whole sentence flags
    (the benchmark's 553 such sentences: tests here keep a few)."""
    from ragline.guard.pii import _NER_PAD_WORDS, _around, _Sources

    source = "The museum in Lyon opened in 1976 and is run by the city council."
    sentences = [
        "The museum in Lyon was founded by Jean Dupont, who moved there from Marseille.",
        "In 1976 the council hired Maria Rossi of Turin to run the museum in Lyon.",
        "The city council of Lyon runs it; its director, Ahmed Benali, lives in Villeurbanne "
        "and can be reached at a.benali@lyon.fr or 04 72 10 30 30 after 5 pm on Mondays.",
        "It opened in 1976.",  # nothing new: no NER at all
    ]
    src = _Sources([source])
    for text in sentences:
        novel = src.novel(text)
        if not novel:
            assert not guard.scan(
                text, direction="output", context=GuardContext(sources=[source])
            ).flags
            continue
        ranges = _around(text, novel, _NER_PAD_WORDS)
        assert all(0 <= lo < hi <= len(text) for lo, hi in ranges)

        def kept(spans, text=text):
            return sorted(x[:3] for x in spans if not src.contain(text[x[1] : x[2]]))

        assert kept(guard.find(text, ner_ranges=ranges)) == kept(guard.find(text))
    flags = guard.scan(sentences[0], direction="output", context=GuardContext(sources=[source]))
    assert "PERSON" in {f.label for f in flags.flags}  # Jean Dupont, not in the source


def test_around_merges_overlapping_windows():
    from ragline.guard.pii import _around

    text = "one two three four five six seven eight nine ten"
    assert _around(text, [(0, 3)], 1) == [(0, 7)]
    assert _around(text, [(8, 13), (14, 18)], 1) == [(4, 23)]  # three, four: one range
    assert _around(text, [(45, 48)], 2) == [(34, 48)]  # "ten" at the end: clipped
    assert _around("", [(0, 0)], 3) == []
