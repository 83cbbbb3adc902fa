"""The guard pipeline: per-guard actions, the strictest wins, per-collection overrides,
fail-closed crashes, redaction, reasons that never echo the text, the registry, and off."""

from __future__ import annotations

import pytest

from ragline.config import load_settings
from ragline.errors import ConfigError
from ragline.guard.base import Action, Flag, GuardContext
from ragline.guard.pipeline import GuardPipeline
from ragline.testing.guard_conformance import CrashingGuard, WordGuard

SECRET = "Zanzibar"


def settings(**guard):
    actions = {"words": "warn", "names": "redact", "bad": "block", "crasher": "block"}
    actions |= guard.pop("actions", {})
    return load_settings(guard={"actions": actions, **guard})


def pipe(*guards, **guard):
    return GuardPipeline(settings(**guard), guards)


def test_nothing_flagged_allows_and_keeps_the_text():
    p = pipe(WordGuard(["forbidden"], name="bad"))
    d = p.check("How tall is the Eiffel Tower?", "input")
    assert d.action is Action.ALLOW and d.text == "How tall is the Eiffel Tower?"
    assert d.decided_by is None and not d.refused and len(d.results) == 1
    assert d.results[0].latency_ms >= 0


def test_each_guard_brings_its_action_and_the_strictest_wins():
    warn = WordGuard(["tower"], name="words")
    block = WordGuard(["forbidden"], name="bad")
    p = pipe(warn, block)
    assert p.check("the tower", "input").action is Action.WARN
    d = p.check("the forbidden tower", "input")
    assert d.action is Action.BLOCK and d.decided_by == "bad" and d.refused
    assert d.reason.startswith("blocked: the bad guard found WORD")
    assert "also: the words guard" in d.reason
    # order of the guards does not matter
    d2 = pipe(block, warn).check("the forbidden tower", "input")
    assert (d2.action, d2.decided_by) == (Action.BLOCK, "bad")


def test_handoff_is_stricter_than_block():
    p = pipe(
        WordGuard(["forbidden"], name="bad"),
        WordGuard(["lawyer"], name="human"),
        actions={"human": "handoff"},
    )
    d = p.check("forbidden: I want a lawyer", "input")
    assert d.action is Action.HANDOFF and d.decided_by == "human"
    assert d.reason.startswith("handed to a person: the human guard")


def test_reason_names_the_guard_and_never_echoes_the_text():
    p = pipe(WordGuard([SECRET], name="bad"))
    d = p.check(f"please tell me about {SECRET} now", "input")
    assert "bad" in d.reason and SECRET not in d.reason and SECRET.lower() not in d.reason
    assert SECRET not in str(d.to_dict()["reason"])


def test_redact_replaces_the_spans_with_numbered_placeholders():
    p = pipe(WordGuard(["alice", "bob"], name="names", label="PERSON"))
    d = p.check("Alice met Bob, then Alice left.", "input")
    assert d.action is Action.REDACT and d.decided_by == "names"
    assert d.text == "<PERSON_1> met <PERSON_2>, then <PERSON_1> left."
    assert d.extra["redacted"] == 3 and not d.refused


def test_a_blocked_text_is_redacted_too():
    p = pipe(WordGuard(["alice"], name="names", label="PERSON"), WordGuard(["bomb"], name="bad"))
    d = p.check("alice wants a bomb", "input")
    assert d.action is Action.BLOCK and d.text == "<PERSON_1> wants a bomb"


def test_collection_policy_overrides_the_global_action():
    policy = {"strict": {"actions": {"words": "block"}}, "open": {"actions": {"bad": "allow"}}}
    p = pipe(WordGuard(["tower"], name="words"), WordGuard(["forbidden"], name="bad"),
             collections=policy)  # fmt: skip
    assert p.check("tower", "input").action is Action.WARN
    assert p.check("tower", "input", GuardContext(collection="strict")).action is Action.BLOCK
    assert p.check("forbidden", "input", GuardContext(collection="open")).action is Action.ALLOW
    assert p.check("forbidden", "input", GuardContext(collection="other")).action is Action.BLOCK


def test_a_crashing_block_guard_fails_closed_and_is_reported():
    p = pipe(CrashingGuard("crasher"), WordGuard(["x"], name="words"))
    d = p.check("a perfectly ordinary question", "input")
    assert d.action is Action.BLOCK and d.decided_by == "crasher"
    crashed = next(r for r in d.results if r.guard == "crasher")
    assert crashed.error == "RuntimeError: the model file is corrupt"
    assert "the crasher guard failed (RuntimeError)" in d.reason
    assert d.to_dict()["guards"][0]["error"].startswith("RuntimeError")


@pytest.mark.parametrize(
    ("action", "expected"),
    [("handoff", Action.HANDOFF), ("redact", Action.WARN), ("warn", Action.WARN),
     ("allow", Action.ALLOW)],
)  # fmt: skip
def test_a_crash_under_other_policies_is_never_silently_skipped(action, expected):
    p = pipe(CrashingGuard("crasher"), actions={"crasher": action})
    d = p.check("hello", "output")
    assert d.action is expected and d.results[0].error is not None


def test_a_guard_that_returns_garbage_counts_as_crashed():
    class Garbage(WordGuard):
        def scan(self, text, *, direction, context=None):
            return {"flags": []}

    d = pipe(Garbage(["x"], name="bad")).check("hello", "input")
    assert d.action is Action.BLOCK and "not a GuardResult" in d.results[0].error


def test_disabled_allows_without_running_anything():
    guard = WordGuard(["forbidden"], name="bad")
    d = pipe(guard, enabled=False).check("forbidden", "input")
    assert d.action is Action.ALLOW and d.results == () and guard.calls == 0


def test_directions_pick_the_guards():
    only_out = WordGuard(["forbidden"], name="bad", directions=["output"])
    p = pipe(only_out)
    assert p.check("forbidden", "input").action is Action.ALLOW and not p.active("input")
    assert p.check("forbidden", "output").action is Action.BLOCK and p.active("output")
    with pytest.raises(ConfigError, match="unknown guard direction"):
        p.check("x", "sideways")  # type: ignore[arg-type]


def test_a_guard_without_an_action_is_a_config_error_naming_the_setting():
    d = GuardPipeline(load_settings(), [WordGuard(["x"], name="newguard")])
    with pytest.raises(ConfigError) as err:
        d.check("x", "input")
    assert "guard.actions" in err.value.message and "newguard" in err.value.hint


def test_names_come_from_settings_per_direction():
    s = load_settings(guard={"input": ["a", "b", "a"], "output": ["c"], "documents": []})
    p = GuardPipeline(s)
    assert p.names("input") == ["a", "b"] and p.names("output") == ["c"]
    assert not p.active("document")


def test_an_unregistered_guard_fails_only_the_check_that_uses_it():
    s = load_settings(
        guard={"input": ["no-such-guard"], "output": [], "actions": {"no-such-guard": "block"}}
    )
    p = GuardPipeline(s)  # building it loads nothing
    assert p.check("hello", "output").action is Action.ALLOW
    d = p.check("hello", "input")
    assert d.action is Action.BLOCK  # fails closed, and says why
    assert "no guards plugin named 'no-such-guard'" in d.results[0].error


def test_redaction_keeps_placeholders_per_conversation():
    p = GuardPipeline(load_settings(), guards=[])
    flag = [Flag("pii", "PERSON", 0.9, 0, 7)]
    a1 = p.redact("Ann Lee called.", flag, "c1")
    a2 = p.redact("Bob Ray called.", flag, "c1")
    b1 = p.redact("Bob Ray called.", flag, "c2")
    assert (a1, a2, b1) == ("<PERSON_1> called.", "<PERSON_2> called.", "<PERSON_1> called.")
    assert p.redact("Ann Lee again", flag, "c1") == "<PERSON_1> again"  # same value, same tag
