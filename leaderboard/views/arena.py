"""Arena: two anonymous answers to one question; the annotator picks the better one (or a tie, or both
bad), and only then sees which models wrote them. The rules live in :mod:`evalkit.leaderboard.arena`."""

from __future__ import annotations

import random

import streamlit as st

from evalkit.errors import UserError
from evalkit.leaderboard import arena, data, queries
from evalkit.leaderboard.arena import Position, VoteResult

# Session keys: the salted annotator id, the battle on screen, and what became of the last click.
ANNOTATOR, BATTLE, RESULT = "arena_annotator", "arena_battle", "arena_result"
BUTTONS = {Position.LEFT: ("A is better (left)", "arena_vote_left"),
           Position.RIGHT: ("B is better (right)", "arena_vote_right"),
           Position.TIE: ("Tie", "arena_vote_tie"),
           Position.BOTH_BAD: ("Both are bad", "arena_vote_bothbad")}
# Battles are drawn with the operating system's randomness: nothing to reproduce, nothing to predict.
_RNG = random.SystemRandom()

st.title("Arena")
settings = data.settings()
if not settings.arena:
    st.info("The arena is off: start the leaderboard with `evalkit leaderboard --arena` to vote.")
    st.stop()
tokens = None
if settings.annotator_tokens is not None:
    try:
        tokens = arena.read_tokens(settings.annotator_tokens)
    except UserError as error:
        st.error(str(error))
        st.stop()
candidates = data.load(queries.arena_candidates)
if not candidates:
    st.info("Nothing to compare yet: the arena shows the answers `evalkit judge` stored, and needs questions "
            "that at least two models answered (`evalkit judge --a MODEL --b MODEL --questions "
            "suites/judge/questions.yaml ...`).")
    st.stop()

state = st.session_state

# -- who votes --------------------------------------------------------------------------------------
if state.get(ANNOTATOR) is None:
    st.write("Enter your name to vote" + (" and the token you were given." if tokens is not None else "."))
    name = st.text_input("Your name", key="arena_name")
    token = st.text_input("Token", type="password", key="arena_token") if tokens is not None else ""
    if st.button("Start voting", key="arena_start"):
        if not (name or "").strip():
            st.error("Enter a name first.")
        elif tokens is not None and not arena.check_token(tokens, name or "", token or ""):
            st.error("Unknown name or wrong token.")
        else:
            with data.writable_store() as store:
                state[ANNOTATOR] = arena.annotator_hash(name or "", arena.store_salt(store))
            st.rerun()
    st.stop()
annotator: str = state[ANNOTATOR]


# -- the battle -------------------------------------------------------------------------------------
def vote(battle_id: int, position: Position) -> None:
    """Button callback: the battle id is the one the button was drawn for (a stale click is refused)."""
    with data.writable_store() as store:
        state[RESULT] = arena.cast_vote(store, state.get(BATTLE), battle_id, annotator, position,
                                        settings.votes_per_minute)


def next_battle() -> None:
    state[BATTLE] = None
    state[RESULT] = None


if state.get(BATTLE) is None:
    with data.writable_store() as store:
        state[BATTLE] = arena.start_battle(store, candidates, annotator, _RNG)
    state[RESULT] = None
battle: arena.Battle = state[BATTLE]
shown = data.load(queries.battle_answers, battle.question_id, battle.model_a, battle.model_b)
if shown is None:
    st.warning("The answers of this battle are no longer in the store.")
    st.button("Next battle", key="arena_next", on_click=next_battle)
    st.stop()

result = state.get(RESULT)
voted = result in (VoteResult.STORED, VoteResult.DUPLICATE)
st.markdown(f"**Question** ({battle.question_id})")
st.markdown(shown["prompt"])
left, right = st.columns(2)
for column, model, title in ((left, battle.left, "A"), (right, battle.right, "B")):
    answer, second_answer = shown["answers"][model]
    with column.container(border=True):
        st.markdown(f"**{title}" + (f": {model}**" if voted else "**"))
        st.markdown(answer if answer.strip() else "*(empty answer)*")
        if shown["second_turn"]:
            st.markdown(f"*Follow-up:* {shown['second_turn']}")
            st.markdown(second_answer if (second_answer or "").strip() else "*(empty answer)*")

if result is VoteResult.RATE_LIMITED:
    st.warning(f"Slow down: at most {settings.votes_per_minute} votes a minute. This vote was not stored; "
               "vote again in a moment.")
elif result is VoteResult.REFUSED:
    st.error("That vote was not for the battle on your screen and was not stored.")

# The buttons stay (disabled) after the vote: a second submit that still arrives is ignored by cast_vote.
for column, (position, (label, key)) in zip(st.columns(4), BUTTONS.items(), strict=True):
    column.button(label, key=key, on_click=vote, args=(battle.id, position), width="stretch", disabled=voted)
if voted:
    st.success(f"Vote stored. A was **{battle.left}**, B was **{battle.right}**.")
    st.button("Next battle", key="arena_next", on_click=next_battle, type="primary")
