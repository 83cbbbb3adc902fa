"""Structured output: near-JSON repair, validation and the bounded re-ask loop."""

from __future__ import annotations

import asyncio
import json

import pytest
from pydantic import BaseModel, TypeAdapter

from ragline.errors import StructuredOutputError
from ragline.models.chat import SamplingParams
from ragline.models.structured import (
    agenerate_structured,
    generate_structured,
    parse_structured,
    repair_json,
)
from ragline.testing.chat_conformance import FakeChatModel, example_for_schema


class Item(BaseModel):
    name: str
    tags: list[str]
    score: float | None = None


class Basket(BaseModel):
    owner: str
    items: list[Item]


@pytest.mark.parametrize(
    "text",
    [
        '{"owner": "ann", "items": []}',
        '```json\n{"owner": "ann", "items": []}\n```',
        'Here you go:\n```\n{"owner": "ann", "items": [],}\n```\nAnything else?',
        "Sure! {'owner': 'ann', 'items': []} Hope that helps.",
        '{"owner": "ann", "items": [],}',
        '{"owner": "ann", "items": [\n  ],\n}',
        '{"owner": "ann", "items": [',  # truncated by max_tokens
    ],
)
def test_repairs_near_json(text: str) -> None:
    value, _ = parse_structured(text, TypeAdapter(Basket))
    assert value == Basket(owner="ann", items=[])


def test_repair_details() -> None:
    fixed = repair_json("{'a': 'it\\'s \"x\"', 'b': True, 'c': None, 'd': [1, 2,],}")
    assert json.loads(fixed) == {"a": 'it\'s "x"', "b": True, "c": None, "d": [1, 2]}
    assert json.loads(repair_json('{"text": "a, b }", "n": 1,}')) == {"text": "a, b }", "n": 1}
    assert json.loads(repair_json("[1, 2")) == [1, 2]
    value, repaired = parse_structured('{"owner": "x", "items": []}', TypeAdapter(Basket))
    assert not repaired and value.owner == "x"


def test_validation_errors_are_readable() -> None:
    with pytest.raises(ValueError, match=r"items\.0\.tags: Field required"):
        parse_structured('{"owner": "x", "items": [{"name": "n"}]}', TypeAdapter(Basket))
    with pytest.raises(ValueError, match="not valid JSON"):
        parse_structured("no json here at all", TypeAdapter(Basket))


def test_loop_reasks_then_succeeds_and_totals_usage() -> None:
    fake = FakeChatModel(
        ["I think it's a basket", '{"owner": "bob", "items": [{"name": "egg", "tags": []}]}']
    )
    done = generate_structured(fake.generate, "Make a basket", Basket, SamplingParams())
    assert done.value.items[0].name == "egg"
    assert len(fake.calls) == 2 and done.usage.completion_tokens == 5 + 7
    second_messages = fake.calls[1][0]
    assert second_messages[-2] == {"role": "assistant", "content": "I think it's a basket"}
    assert "not valid JSON" in second_messages[-1]["content"]
    assert fake.calls[0][1].json_schema == TypeAdapter(Basket).json_schema()


def test_loop_is_bounded() -> None:
    fake = FakeChatModel(["nope"])
    with pytest.raises(StructuredOutputError) as info:
        generate_structured(fake.generate, "x", Basket, max_reasks=2)
    assert len(fake.calls) == 3 and len(info.value.attempts) == 3
    assert info.value.usage.completion_tokens == 3
    assert all(a.output == "nope" for a in info.value.attempts)


def test_async_loop_and_non_model_types() -> None:
    fake = FakeChatModel(["[1, 2, 3,]"])
    done = asyncio.run(agenerate_structured(fake.agenerate, "numbers", list[int]))
    assert done.value == [1, 2, 3] and done.repaired


def test_example_for_schema_validates() -> None:
    schema = TypeAdapter(Basket).json_schema()
    Basket.model_validate(example_for_schema(schema))
    fake = FakeChatModel()
    assert isinstance(generate_structured(fake.generate, "x", Basket).value, Basket)
