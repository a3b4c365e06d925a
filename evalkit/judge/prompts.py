"""The judge prompts, written for evalkit, and the requests built from them.

Four prompts — pairwise, pairwise with a reference, single-answer 1–10, single-answer with a reference —
and a verdict-only follow-up for an output whose verdict could not be read. Every stored judgment
carries :data:`PROMPT_VERSION`; change it whenever any text below changes, so judgments made with
different wording are never mixed (and the judge cache, keyed by the rendered prompt, misses anyway).

Answers are fenced with begin/end markers naming the position, so an answer that itself contains
markdown headings or the word "Answer" cannot be mistaken for the boundary between the two.
"""

from __future__ import annotations

from evalkit.judge.interfaces import Answer, ChoiceRequest, JudgeRequest, Question

PROMPT_VERSION = "evalkit-judge-v1"

_PAIR_SYSTEM = (
    "You are an impartial judge comparing two AI assistants' answers to the same user request. "
    "Decide which answer serves the user better: judge correctness first, then helpfulness, relevance, "
    "depth and clarity. {reference_rule}"
    "The order in which the answers are shown says nothing about their quality; do not let it influence you. "
    "Length is not quality: a longer answer is better only when the extra text helps the user. "
    "The assistants' names carry no information either.\n\n"
    "Write a short explanation first. Then, on the last line, give your verdict exactly in this format: "
    "[[A]] if answer A is better, [[B]] if answer B is better, [[C]] if they are equally good. "
    "Nothing may follow the verdict."
)

_SINGLE_SYSTEM = (
    "You are an impartial judge grading one AI assistant's answer to a user request. "
    "Judge correctness first, then helpfulness, relevance, depth and clarity. {reference_rule}"
    "Length is not quality: a longer answer is better only when the extra text helps the user.\n\n"
    "Write a short explanation first. Then, on the last line, give a rating from 1 (useless or wrong) "
    "to 10 (excellent) exactly in this format: [[rating]], for example [[6]]. Nothing may follow the rating."
)

_REFERENCE_RULE = (
    "A reference answer written by an expert is provided: use it to check correctness (a final result "
    "that disagrees with the reference is wrong, however well it is argued), but do not reward copying "
    "its wording. "
)

_RETRY_PAIR = (
    "Your reply did not end with a verdict in the required format. Reply with the verdict only, "
    "nothing else: [[A]], [[B]] or [[C]]."
)
_RETRY_SINGLE = (
    "Your reply did not end with a rating in the required format. Reply with the rating only, "
    "nothing else: [[rating]] with a number from 1 to 10, for example [[6]]."
)


def _block(title: str, text: str) -> str:
    return f"<<< {title} begins >>>\n{text}\n<<< {title} ends >>>"


def _conversation(question: Question, answer: Answer, label: str) -> str:
    """One assistant's side: its answer, or both turns of a two-turn question."""
    if question.second_turn is None:
        return _block(f"Answer {label}", answer.answer)
    second = answer.second_answer if answer.second_answer is not None else "(no answer to the second turn)"
    return _block(f"Conversation {label}",
                  f"User: {question.prompt}\n\nAssistant {label}: {answer.answer}\n\n"
                  f"User: {question.second_turn}\n\nAssistant {label}: {second}")


def _task(question: Question, reference: bool) -> str:
    """The user's request (and the reference answer) as the judge sees them."""
    parts = [_block("User request", question.prompt)]
    if question.second_turn is not None:
        parts.append(_block("User follow-up", question.second_turn))
        parts.append("Judge the whole conversation, and above all the answer to the follow-up.")
    if reference:
        if question.reference is None:
            raise ValueError(f"question {question.id!r} has no reference answer")
        parts.append(_block("Reference answer", question.reference))
    return "\n\n".join(parts)


def pairwise_request(question: Question, first: Answer, second: Answer, *, reference: bool = False,
                     temperature: float = 0.0, max_tokens: int = 1024) -> JudgeRequest:
    """The judge call comparing ``first`` (shown as A) with ``second`` (shown as B)."""
    system = _PAIR_SYSTEM.format(reference_rule=_REFERENCE_RULE if reference else "")
    user = "\n\n".join([_task(question, reference), _conversation(question, first, "A"),
                        _conversation(question, second, "B"),
                        "Which answer is better? Explain briefly, then end with [[A]], [[B]] or [[C]]."])
    return JudgeRequest(messages=(("system", system), ("user", user)), temperature=temperature,
                        max_tokens=max_tokens)


def single_request(question: Question, answer: Answer, *, reference: bool = False,
                   temperature: float = 0.0, max_tokens: int = 1024) -> JudgeRequest:
    """The judge call grading ``answer`` from 1 to 10."""
    system = _SINGLE_SYSTEM.format(reference_rule=_REFERENCE_RULE if reference else "")
    user = "\n\n".join([_task(question, reference), _conversation(question, answer, "A"),
                        "Grade the answer. Explain briefly, then end with [[rating]]."])
    return JudgeRequest(messages=(("system", system), ("user", user)), temperature=temperature,
                        max_tokens=max_tokens)


def retry_request(original: JudgeRequest, reply: str, *, rating: bool = False) -> JudgeRequest:
    """The follow-up to a reply without a readable verdict: the same conversation, the judge's reply,
    and a request for the verdict (or rating) alone. Short, since only the verdict is wanted."""
    ask = _RETRY_SINGLE if rating else _RETRY_PAIR
    return JudgeRequest(messages=(*original.messages, ("assistant", reply), ("user", ask)),
                        temperature=original.temperature, max_tokens=min(original.max_tokens, 32))


# -- evalkit-judge-v2: the verdict first, read from probabilities ---------------------------------------
#
# The judge's first words are the verdict, so its probabilities can be read without generating or
# parsing anything: a local judge scores the three letters as continuations of the rendered prompt, an
# endpoint returns its first token's top log-probabilities. Every question gets a verdict.

PROMPT_VERSION_V2 = "evalkit-judge-v2"
#: The same prompts, after the judge has written its explanation (``--reasoning``).
PROMPT_VERSION_V2_REASONING = "evalkit-judge-v2-reasoning"

PAIR_CHOICES = ("A", "B", "C")
RATING_CHOICES = tuple(str(s) for s in range(1, 11))
#: Makes the ratings prefix-free for a local judge ("1" is a prefix of "10", "1/10" is not one of "10/10").
RATING_SUFFIX = "/10"

_PAIR_SYSTEM_V2 = (
    "You are an impartial judge comparing two AI assistants' answers to the same user request. "
    "Decide which answer serves the user better: judge correctness first, then helpfulness, relevance, "
    "depth and clarity. {reference_rule}"
    "The order in which the answers are shown says nothing about their quality; do not let it influence you. "
    "Length is not quality: a longer answer is better only when the extra text helps the user. "
    "The assistants' names carry no information either.\n\n"
    "{answer_rule}"
)
_PAIR_VERDICT_RULE = ("Reply with one letter and nothing else: A if answer A is better, B if answer B is better, "
                      "C if they are equally good.")
_PAIR_REASONING_RULE = ("First explain your comparison briefly. You will then be asked for your verdict: "
                        "A if answer A is better, B if answer B is better, C if they are equally good.")
_SINGLE_SYSTEM_V2 = (
    "You are an impartial judge grading one AI assistant's answer to a user request. "
    "Judge correctness first, then helpfulness, relevance, depth and clarity. {reference_rule}"
    "Length is not quality: a longer answer is better only when the extra text helps the user.\n\n"
    "{answer_rule}"
)
_RATING_RULE = ("Reply with the rating only, a whole number from 1 (useless or wrong) to 10 (excellent), "
                "written as N/10, for example 6/10.")
_RATING_REASONING_RULE = ("First explain your grade briefly. You will then be asked for a rating from 1 "
                          "(useless or wrong) to 10 (excellent).")
_ASK_PAIR = "Your verdict, one letter only (A, B or C):"
_ASK_RATING = "Your rating, written as N/10:"


def _messages(system: str, user: str) -> tuple[tuple[str, str], ...]:
    return (("system", system), ("user", user))


def pairwise_choice_request(question: Question, first: Answer, second: Answer, *, reference: bool = False
                            ) -> ChoiceRequest:
    """The verdict-first call comparing ``first`` (shown as A) with ``second`` (shown as B)."""
    system = _PAIR_SYSTEM_V2.format(reference_rule=_REFERENCE_RULE if reference else "",
                                    answer_rule=_PAIR_VERDICT_RULE)
    user = "\n\n".join([_task(question, reference), _conversation(question, first, "A"),
                        _conversation(question, second, "B"), "Which answer is better? " + _PAIR_VERDICT_RULE])
    return ChoiceRequest(_messages(system, user), PAIR_CHOICES)


def single_choice_request(question: Question, answer: Answer, *, reference: bool = False) -> ChoiceRequest:
    """The rating-first call grading ``answer`` from 1 to 10."""
    system = _SINGLE_SYSTEM_V2.format(reference_rule=_REFERENCE_RULE if reference else "", answer_rule=_RATING_RULE)
    user = "\n\n".join([_task(question, reference), _conversation(question, answer, "A"),
                        "Grade the answer. " + _RATING_RULE])
    return ChoiceRequest(_messages(system, user), RATING_CHOICES, prefix="Rating:", suffix=RATING_SUFFIX)


def reasoning_request(request: ChoiceRequest, *, max_tokens: int = 1024) -> JudgeRequest:
    """``--reasoning``, first call: the same comparison, asking for an explanation first (generated as text)."""
    rating = request.choices == RATING_CHOICES
    (_, system), (_, user) = request.messages
    rule, reasoning = (_RATING_RULE, _RATING_REASONING_RULE) if rating else (_PAIR_VERDICT_RULE, _PAIR_REASONING_RULE)
    body, _, last_line = user.rpartition("\n\n")
    ask = last_line.replace(rule, "Explain briefly.")
    return JudgeRequest(_messages(system.replace(rule, reasoning), f"{body}\n\n{ask}"), temperature=0.0,
                        max_tokens=max_tokens)


def after_reasoning(request: ChoiceRequest, explanation_request: JudgeRequest, explanation: str) -> ChoiceRequest:
    """``--reasoning``, second call: the explanation as the judge's turn, then the verdict (read as
    probabilities like any other)."""
    rating = request.choices == RATING_CHOICES
    return ChoiceRequest((*explanation_request.messages, ("assistant", explanation.strip()),
                          ("user", _ASK_RATING if rating else _ASK_PAIR)), request.choices, request.prefix,
                         request.suffix)
