"""The prompt (KV) prefix cache of the embedded engine, with the real SmolLM2-135M GGUF:
restoring a saved prefix gives the same output as evaluating the whole prompt."""

from __future__ import annotations

import pytest

from conftest import require_smollm2
from ragline.models.chat import SamplingParams

pytestmark = pytest.mark.integration
GGUF = require_smollm2()

from ragline.models.llamacpp import LlamaCppChatModel  # noqa: E402
from ragline.models.prefix import PrefixCache, common_prefix  # noqa: E402

INSTRUCTIONS = {
    "answer": (
        "Read the passages and answer the question in one sentence. Use only facts from the "
        "passages and cite the passage like [1]. If the passages do not say, answer that you "
        "cannot tell. Keep the answer short and do not add anything else."
    ),
    "rewrite": (
        "Rewrite the last question of the conversation as one standalone question that can "
        "be understood without the conversation. Keep every name and number. Write only the "
        "question, nothing before or after it, on one line."
    ),
}
QUESTIONS = [
    ("answer", "[1] The Eiffel Tower is 330 metres tall.\n\nQuestion: How tall is it?"),
    ("rewrite", "User: Who built the tower?\nUser: and when?"),
    ("answer", "[1] Honey bees dance to show where flowers are.\n\nQuestion: Why do bees dance?"),
    ("rewrite", "User: What is the ISS?\nUser: how fast does it go?"),
    ("answer", "[1] Mount Everest is 8,849 metres high.\n\nQuestion: How high is Everest?"),
]
GREEDY = SamplingParams(temperature=0.0, max_tokens=24, seed=1)


def messages(kind: str, text: str) -> list[dict[str, str]]:
    return [
        {"role": "system", "content": "You are a helpful assistant."},
        {"role": "user", "content": f"{INSTRUCTIONS[kind]}\n\n{text}"},
    ]


def test_common_prefix() -> None:
    assert common_prefix([1, 2, 3], [1, 2, 4]) == 2
    assert common_prefix([], [1]) == 0
    assert common_prefix([5, 6], [5, 6, 7]) == 2


def test_same_output_with_and_without_the_prefix_cache() -> None:
    cached = LlamaCppChatModel(prefix_cache=True)
    plain = LlamaCppChatModel(prefix_cache=False)
    loaded = cached.load()
    assert plain.load() is loaded  # one model in memory; the flag is per instance
    loaded.prefixes = PrefixCache()

    expected = []
    for kind, text in QUESTIONS:  # each prompt evaluated from scratch
        loaded.llm.reset()
        expected.append(plain.generate(messages(kind, text), GREEDY).text)
    assert len(loaded.prefixes) == 0  # off: nothing saved

    loaded.llm.reset()
    got = [cached.generate(messages(kind, text), GREEDY).text for kind, text in QUESTIONS]
    assert got == expected
    # each instruction prefix is saved when it is seen the second time (answer: 3rd prompt,
    # rewrite: 4th), and the answer prefix restored for the 5th, after a rewrite prompt
    assert loaded.prefixes.saves == 2
    assert loaded.prefixes.hits == 1
    assert all(t.strip() for t in got)


def test_a_prompt_shorter_than_any_saved_prefix_is_evaluated_normally() -> None:
    model = LlamaCppChatModel(prefix_cache=True)
    loaded = model.load()
    loaded.prefixes = PrefixCache()
    for kind, text in QUESTIONS[:3]:
        model.generate(messages(kind, text), GREEDY)
    short = model.generate("Hi", GREEDY)
    loaded.llm.reset()
    again = LlamaCppChatModel(prefix_cache=False).generate("Hi", GREEDY)
    assert short.text == again.text


@pytest.mark.parametrize("ref", ["answer@v2", "answer@v3", "rewrite@v1"])
@pytest.mark.parametrize("family", [None, "qwen"])
def test_shipped_prompts_put_the_fixed_part_first(ref: str, family: str | None) -> None:
    """What an OpenAI-compatible server's prefix cache (and ours) can reuse: every message
    before the last is the same for any question, and the last one starts the same too."""
    from ragline.config import load_settings
    from ragline.prompts import PromptRegistry

    prompt = PromptRegistry.from_settings(load_settings()).for_family(ref, family)
    values = [
        {"passages": "[1] One passage.", "question": "Who?", "history": "What?", "spotlight": ""},
        {"passages": "[1] Another.", "question": "When?", "history": "Where?", "spotlight": ""},
    ]
    a, b = (
        prompt.render(**{k: v for k, v in vals.items() if k in prompt.variables}) for vals in values
    )
    assert a[0]["role"] == "system" and len(a) >= 2
    assert a[:-1] == b[:-1]  # the system text (and any example turns) never varies
    # the slots come after the last message's fixed opening
    last_a, last_b = a[-1]["content"], b[-1]["content"]
    assert last_a[: common_prefix(last_a, last_b)].strip()
