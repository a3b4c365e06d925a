"""The combination rules of the verdict-first protocol as pure functions, on hand-written probabilities:
normalisation over the choices (−∞ is probability 0), the most likely verdict per order, MT-Bench's
swap rule on the two orders, the weighted win, and the expected score."""

from __future__ import annotations

import math

import pytest

from evalkit.judge.interfaces import Outcome, PairVerdict
from evalkit.judge.probability_protocol import expected_score, most_likely, normalise, weighted_win
from evalkit.judge.protocol import outcome_of


def test_normalise_is_a_softmax_over_the_choices_with_minus_infinity_as_zero() -> None:
    assert normalise([math.log(2), math.log(1), math.log(1)]) == pytest.approx([0.5, 0.25, 0.25])
    assert normalise([-1000.0, -1000.0 + math.log(3), -math.inf]) == pytest.approx([0.25, 0.75, 0.0])
    assert normalise([-math.inf] * 3) == pytest.approx([1 / 3] * 3)  # an endpoint whose top tokens held none


@pytest.mark.parametrize(("p_ab", "p_ba", "outcome", "w"), [
    # A first: A likely; B first: B likely (= model A again): a win, w = ½[(.7+.05) + (.6+.1)]
    ((0.7, 0.2, 0.1), (0.2, 0.6, 0.2), Outcome.WIN, 0.725),
    # the judge names the first position both times: a tie by the swap rule, w close to ½
    ((0.7, 0.2, 0.1), (0.7, 0.2, 0.1), Outcome.TIE, 0.5 * ((0.7 + 0.05) + (0.2 + 0.05))),
    ((0.1, 0.8, 0.1), (0.9, 0.05, 0.05), Outcome.LOSS, 0.5 * ((0.1 + 0.05) + (0.05 + 0.025))),
    ((0.2, 0.2, 0.6), (0.1, 0.5, 0.4), Outcome.TIE, 0.5 * ((0.2 + 0.3) + (0.5 + 0.2))),
])
def test_both_orders_combine_into_the_outcome_and_the_weighted_win(p_ab: tuple[float, ...], p_ba: tuple[float, ...],
                                                                   outcome: Outcome, w: float) -> None:
    letters = {"A": PairVerdict.A, "B": PairVerdict.B, "C": PairVerdict.TIE}
    v_ab, v_ba = letters[most_likely("ABC", p_ab)], letters[most_likely("ABC", p_ba)]
    assert outcome_of(v_ab, v_ba) is outcome
    assert weighted_win(p_ab, p_ba) == pytest.approx(w)


def test_expected_score_and_most_likely_rating() -> None:
    p = [0.0] * 10
    p[6], p[7] = 0.25, 0.75  # ratings 7 and 8
    assert expected_score(p, range(1, 11)) == pytest.approx(7.75)
    assert most_likely([str(s) for s in range(1, 11)], p) == "8"
