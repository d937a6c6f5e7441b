"""The transaction state machine: only the listed transitions are possible."""

import pytest
from hypothesis import given
from hypothesis import strategies as st

from appliance.domain.card import luhn_ok, mask_pan, scheme_from_aid
from appliance.domain.stan import STAN_MAX, next_stan
from appliance.domain.transactions import FINAL, TRANSITIONS, TxnState, check_transition
from appliance.errors import IllegalTransition

states = st.sampled_from(list(TxnState))


@given(states, states)
def test_check_transition_agrees_with_the_table(old: TxnState, new: TxnState) -> None:
    if new in TRANSITIONS[old]:
        check_transition(old, new)
    else:
        with pytest.raises(IllegalTransition):
            check_transition(old, new)


@given(st.lists(states, max_size=12))
def test_every_walk_through_the_machine_ends_in_a_state_it_can_reach(path: list[TxnState]) -> None:
    state = TxnState.PENDING
    for nxt in path:
        try:
            check_transition(state, nxt)
        except IllegalTransition:
            continue
        state = nxt
    assert state in TRANSITIONS


def test_a_final_state_never_changes() -> None:
    for final in FINAL:
        for s in TxnState:
            with pytest.raises(IllegalTransition):
                check_transition(final, s)


def test_a_reversed_payment_cannot_become_approved_again() -> None:
    with pytest.raises(IllegalTransition):
        check_transition(TxnState.REVERSED, TxnState.APPROVED)


def test_stan_cycles_from_999999_to_1() -> None:
    assert next_stan(0) == 1
    assert next_stan(41) == 42
    assert next_stan(STAN_MAX) == 1


def test_masking_shows_bin_and_last_four_only() -> None:
    assert mask_pan("4761739001010119") == "476173******0119"
    assert mask_pan("6234567890123456789")[-4:] == "6789"
    assert "739001010" not in mask_pan("4761739001010119")


def test_scheme_is_named_from_the_aid_rid() -> None:
    assert scheme_from_aid("A0000000031010") == "VISA"
    assert scheme_from_aid("a0000000041010") == "MASTERCARD"
    assert scheme_from_aid("A000000333010101") == "UNIONPAY"
    assert scheme_from_aid("A000000999") == "UNKNOWN"


def test_luhn() -> None:
    assert luhn_ok("4761739001010119")
    assert not luhn_ok("4761739001010118")
    assert not luhn_ok("47617390010101a9")
