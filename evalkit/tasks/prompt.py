"""Prompts as lm-eval 0.4.13 builds them from a task file (``api/task.py`` ``fewshot_context``,
``build_qa_turn``, ``multiple_input_context``; ``api/utils.py`` ``Message``).

A prompt is a list of messages, each with a delimiter that only plain text uses: the system turn
(``--system_instruction`` and the task's ``description``), one user/assistant pair per shot, and
the document's user turn (plus an assistant turn holding ``gen_prefix`` when there is one). As
plain text the messages are concatenated, ``content + delimiter`` each. Under a chat template,
multi-turn sends them as they are and single-turn folds everything but the system turn (and a
trailing assistant prefix) into one user message.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass


@dataclass
class Message:
    role: str
    content: str
    delimiter: str = ""

    def to_text(self) -> str:
        return self.content + self.delimiter

    def to_dict(self) -> dict[str, str]:
        return {"role": self.role, "content": self.content}


def maybe_delimit(prefix: str | None, suffix: str | None, delimiter: str = " ") -> str:
    """Join, adding ``delimiter`` only if neither side has whitespace at the boundary."""
    if not prefix:
        return suffix or ""
    if not suffix:
        return prefix
    return prefix + suffix if prefix[-1].isspace() or suffix[0].isspace() else prefix + delimiter + suffix


def requires_delimiter(prefix: str, suffix: str) -> bool:
    return prefix != "" and not (prefix[-1].isspace() or suffix[0].isspace())


def ends_with_whitespace(s: str | None) -> bool:
    return bool(s) and s[-1].isspace()  # type: ignore[index]


@dataclass(frozen=True)
class Shot:
    """One solved example, already rendered: its question and its answer text."""

    question: str
    answer: str
    gen_prefix: str | None = None


def qa_turn(question: str, answer: str | None, gen_prefix: str | None, target_delimiter: str,
            fewshot_delimiter: str) -> list[Message]:
    """lm-eval's ``build_qa_turn`` with the answer already chosen (``c[a]``, ``a[0]`` or ``a``)."""
    has_answer = answer is not None and answer != ""
    if has_answer and not gen_prefix:
        user_delimiter = target_delimiter
    elif gen_prefix and requires_delimiter(question, gen_prefix):
        user_delimiter = target_delimiter
    else:
        user_delimiter = ""
    messages = [Message("user", question, user_delimiter)]
    if has_answer:
        assert answer is not None
        messages.append(Message("assistant", maybe_delimit(gen_prefix, answer, " "), fewshot_delimiter))
    elif gen_prefix:
        messages.append(Message("assistant", gen_prefix))
    return messages


def multiturn_to_singleturn(messages: list[Message]) -> list[dict[str, str]]:
    system, rest = (messages[0], messages[1:]) if messages[0].role == "system" else (None, messages)
    if rest[-1].role == "assistant":
        body = rest[:-1]
        text = "".join(m.to_text() for m in body[:-1]) + body[-1].content
        out = [Message("user", text).to_dict(), rest[-1].to_dict()]
    else:
        text = "".join(m.to_text() for m in rest[:-1]) + rest[-1].content
        out = [Message("user", text).to_dict()]
    return ([system.to_dict()] if system else []) + out


#: Renders chat messages with a model's template; the flag says whether to add the generation prompt.
ChatRenderer = Callable[[list[dict[str, str]], bool], str]


@dataclass(frozen=True)
class PromptStyle:
    """How prompts are rendered: plain text, or a chat template (multi-turn or folded into one turn)."""

    system_instruction: str | None = None
    chat: ChatRenderer | None = None
    multiturn: bool = True


def _render(messages: list[Message], style: PromptStyle, gen_prefix: str | None) -> str:
    if style.chat is None:
        return "".join(m.to_text() for m in messages)
    chat = [m.to_dict() for m in messages] if style.multiturn else multiturn_to_singleturn(messages)
    return style.chat(chat, not gen_prefix)


def _prefix(description: str, shots: Sequence[Shot], style: PromptStyle, target_delimiter: str,
            fewshot_delimiter: str, task_fewshot_delimiter: str) -> list[Message]:
    messages: list[Message] = []
    system = maybe_delimit(style.system_instruction, description, task_fewshot_delimiter)
    if system:
        messages.append(Message("system", system))
    for shot in shots:
        messages += qa_turn(shot.question, shot.answer, shot.gen_prefix, target_delimiter, fewshot_delimiter)
    return messages


def context(*, description: str, shots: Sequence[Shot], question: str, gen_prefix: str | None, style: PromptStyle,
            target_delimiter: str, fewshot_target_delimiter: str, fewshot_delimiter: str,
            task_fewshot_delimiter: str) -> str:
    """The prompt of one document (lm-eval's ``fewshot_context`` for a single input)."""
    messages = _prefix(description, shots, style, fewshot_target_delimiter, fewshot_delimiter, task_fewshot_delimiter)
    messages += qa_turn(question, None, gen_prefix, target_delimiter, "")
    return _render(messages, style, gen_prefix)


def multiple_input_contexts(*, description: str, shots: Sequence[Shot], inputs: Sequence[str],
                            gen_prefix: str | None, style: PromptStyle, fewshot_target_delimiter: str,
                            fewshot_delimiter: str, task_fewshot_delimiter: str) -> list[str]:
    """One prompt per input (Winogrande's partial scoring): the shared shots, then that input."""
    prefix = _prefix(description, shots, style, fewshot_target_delimiter, fewshot_delimiter, task_fewshot_delimiter)
    out = []
    for text in inputs:
        messages = [Message(m.role, m.content, m.delimiter) for m in prefix] + qa_turn(text, None, gen_prefix, "", "")
        out.append(_render(messages, style, gen_prefix))
    return out
