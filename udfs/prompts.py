"""Notes -> chat prompts, from the template in conf/prompt.yaml, fitted to the model's context."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

MIN_NOTE_CHARS = 200


@dataclass(frozen=True)
class PromptTemplate:
    version: str
    system: str
    user: str

    @classmethod
    def from_mapping(cls, data: dict) -> "PromptTemplate":
        return cls(version=str(data["version"]), system=data["system"], user=data["user"])

    def messages(self, text: str, note_type: str | None) -> list[dict[str, str]]:
        user = self.user.format(text=text, note_type=note_type or "unspecified")
        return [{"role": "system", "content": self.system}, {"role": "user", "content": user}]


@dataclass(frozen=True)
class Prompt:
    text: str  # the rendered prompt
    token_ids: list[int] | None  # its tokens, counted while fitting it: the engine need not tokenize it again
    input_truncated: bool = False


def fit_prompt(
    template: PromptTemplate,
    text: str,
    note_type: str | None,
    render: Callable[[list[dict[str, str]]], str],
    tokenize: Callable[[str], list[int]],
    max_prompt_tokens: int,
) -> Prompt:
    """Render a note's prompt; if it exceeds the budget, cut the note's tail until it fits."""
    prompt = render(template.messages(text, note_type))
    tokens = tokenize(prompt)
    truncated = False
    while len(tokens) > max_prompt_tokens and len(text) > MIN_NOTE_CHARS:
        keep = max(MIN_NOTE_CHARS, int(len(text) * max_prompt_tokens / len(tokens) * 0.95))
        text, truncated = text[:keep], True
        prompt = render(template.messages(text, note_type))
        tokens = tokenize(prompt)
    if len(tokens) > max_prompt_tokens:
        raise ValueError(f"prompt template alone needs {len(tokens)} tokens, over the budget of {max_prompt_tokens}")
    return Prompt(prompt, tokens, truncated)
