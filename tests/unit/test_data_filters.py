"""Quality filters: each drops what it is for, keeps ordinary text, and says why."""

from __future__ import annotations

from ragline.config import load_settings
from ragline.data.filters import boilerplate_reason, filter_records, repetition_reason
from ragline.data.records import DataRecord

GOOD = (
    "The committee reviewed the annual budget in March and approved funding for three new "
    "research projects on coastal erosion, each led by a different university team."
)


def rec(i: int, text: str, **extra: object) -> DataRecord:
    return DataRecord(i, f"r{i}", {"_id": f"r{i}", "text": text, **extra}, text)


def test_each_filter_drops_its_case_and_reports_why():
    cfg = load_settings().data
    records = [
        rec(1, GOOD),
        rec(2, "too short"),
        rec(
            3,
            "Le comité a examiné le budget annuel en mars et a approuvé le financement de "
            "trois nouveaux projets de recherche sur l'érosion côtière.",
        ),
        rec(4, "\n".join(["Buy now and save."] * 6 + ["A line of its own."])),
        rec(5, "Accept all cookies\nPrivacy policy\nAll rights reserved 2024\n" + GOOD),
        rec(6, "The caf\ufffd was closed for the day, as the owner had gone to the market."),
        rec(7, GOOD + " Lorem ipsum dolor sit amet."),
    ]
    report = filter_records(records, cfg)
    assert [r.id for r in report.kept] == ["r1"]
    why = {d.id: (d.filter, d.reason) for d in report.dropped}
    assert why["r2"][0] == "length" and "2 words" in why["r2"][1]
    assert why["r3"] == ("language", why["r3"][1]) and why["r3"][1].startswith("language fr")
    assert why["r4"][0] == "repetition" and "duplicate lines" in why["r4"][1]
    assert why["r5"][0] == "boilerplate"
    assert why["r6"][0] == "encoding" and "U+FFFD" in why["r6"][1]
    assert why["r7"] == ("boilerplate", "placeholder text (lorem ipsum)")
    counts = report.counts()
    assert counts["length"] == 1 and "judge" not in counts and sum(counts.values()) == 6


def test_mojibake_is_repaired_in_every_field_or_dropped():
    cfg = load_settings().data
    broken = "The cafÃ© on the corner serves the best croissants in the whole town, they say."
    r = DataRecord(1, "q1", {"question": "Where is the cafÃ©?", "answer": broken}, broken)
    report = filter_records([r], cfg)
    assert report.repaired == 1 and len(report.kept) == 1
    assert report.kept[0].data["question"] == "Where is the café?"
    assert "café" in report.kept[0].text
    strict = load_settings(data={"encoding": "drop"}).data
    r2 = DataRecord(1, "q1", {"text": broken}, broken)
    assert filter_records([r2], strict).dropped[0].filter == "encoding"


def test_gopher_ngram_rules_only_on_documents():
    spam = " ".join(["click the big red button"] * 20)
    assert "gram" in (repetition_reason(spam) or "")
    assert repetition_reason("the cat and the cat and the cat") is None  # under 50 words
    assert repetition_reason(GOOD * 1) is None


def test_boilerplate_share_is_a_setting():
    text = "Subscribe to our newsletter\n" + GOOD + "\n" + GOOD.upper() + "\n" + GOOD[::-1]
    assert boilerplate_reason(text, 0.3) is None  # 1 line in 4
    assert boilerplate_reason(text, 0.2) is not None


def test_only_the_filters_asked_for_run():
    cfg = load_settings().data
    report = filter_records([rec(1, "too short")], cfg, filters=["language"])
    assert len(report.kept) == 1 and report.params["filters"] == ["language"]
