"""The indicators on gpiozero's mock pins: LED patterns, tones, never raising, never blocking."""

from __future__ import annotations

import threading
from collections.abc import Iterator

import pytest
from gpiozero.pins.mock import MockFactory, MockPWMPin

from appliance.errors import ConfigError, DeviceError
from drivers.indicators import make_indicators
from drivers.indicators.base import IndicatorState
from drivers.indicators.gpio import GpioIndicators, NoIndicators

LEDS = [5, 6, 13, 19]
BUZZER = 12


class ToneRecorder:
    """A ``pause`` that records the buzzer pin at every step instead of sleeping."""

    def __init__(self, factory: MockFactory) -> None:
        self.pin = factory.pin(BUZZER)
        self.steps: list[tuple[float | None, float]] = []

    def __call__(self, seconds: float, cancelled: threading.Event) -> bool:
        self.steps.append((self.pin.frequency, seconds))
        return False


@pytest.fixture
def factory() -> MockFactory:
    return MockFactory(pin_class=MockPWMPin)


@pytest.fixture
def recorder(factory: MockFactory) -> ToneRecorder:
    return ToneRecorder(factory)


@pytest.fixture
def ind(factory: MockFactory, recorder: ToneRecorder) -> Iterator[GpioIndicators]:
    indicators = GpioIndicators(
        LEDS, BUZZER, pin_factory=factory, idle_blink=(0.001, 0.001), pause=recorder
    )
    yield indicators
    indicators.close()


def leds(factory: MockFactory) -> list[bool]:
    return [bool(factory.pin(n).state) for n in LEDS]


@pytest.mark.parametrize(
    ("state", "lit"),
    [
        (IndicatorState.OFF, [False, False, False, False]),
        (IndicatorState.READY, [True, False, False, False]),
        (IndicatorState.PROCESSING, [True, True, False, False]),
        (IndicatorState.SUCCESS, [True, True, True, True]),
        (IndicatorState.ERROR, [False, False, False, False]),
    ],
)
@pytest.mark.parametrize(
    "before", [IndicatorState.SUCCESS, IndicatorState.IDLE, IndicatorState.PROCESSING]
)
def test_each_state_lights_the_emv_leds(
    ind: GpioIndicators,
    factory: MockFactory,
    state: IndicatorState,
    lit: list[bool],
    before: IndicatorState,
) -> None:
    ind.show(before)
    assert ind.flush(timeout=5)
    ind.show(state)
    ind.wait()
    assert leds(factory) == lit


def test_success_plays_1500_hz_for_half_a_second_then_silence(
    ind: GpioIndicators, factory: MockFactory, recorder: ToneRecorder
) -> None:
    ind.show(IndicatorState.SUCCESS)
    assert ind.wait(timeout=5)
    assert recorder.steps == [(1500.0, 0.5)]
    assert recorder.pin.frequency is None
    recorder.pin.assert_states([False, 0.5, 0.0])


def test_error_plays_the_750_hz_alert_twice(ind: GpioIndicators, recorder: ToneRecorder) -> None:
    recorder.pin.clear_states()
    ind.show(IndicatorState.ERROR)
    assert ind.wait(timeout=5)
    assert recorder.steps == [(750.0, 0.2), (None, 0.2), (750.0, 0.2)]
    recorder.pin.assert_states([0.0, 0.5, 0.0, 0.5, 0.0])


def test_idle_blinks_led1_only(ind: GpioIndicators, factory: MockFactory) -> None:
    led1 = factory.pin(LEDS[0])
    led1.clear_states()
    ind.show(IndicatorState.IDLE)
    toggled = threading.Event()
    # gpiozero's own blink thread drives the pin; wait for it to go on and off twice.
    for _ in range(2000):
        if [s.state for s in led1.states[1:5]] == [True, False, True, False]:
            toggled.set()
            break
        threading.Event().wait(0.001)
    assert toggled.is_set(), led1.states
    ind.show(IndicatorState.READY)
    assert ind.wait(timeout=5)
    assert leds(factory) == [True, False, False, False]
    assert all(not factory.pin(n).state for n in LEDS[1:])


def test_show_returns_while_the_tone_is_still_playing(factory: MockFactory) -> None:
    entered, release = threading.Event(), threading.Event()

    def pause(seconds: float, cancelled: threading.Event) -> bool:
        entered.set()
        release.wait(5)
        return False

    ind = GpioIndicators(LEDS, BUZZER, pin_factory=factory, pause=pause)
    try:
        ind.show(IndicatorState.SUCCESS)
        assert entered.wait(5)
        assert factory.pin(BUZZER).frequency == 1500.0  # still sounding: show() did not wait
        release.set()
        assert ind.wait(timeout=5)
        assert factory.pin(BUZZER).frequency is None
    finally:
        release.set()
        ind.close()


def test_flush_returns_once_the_state_is_shown_while_its_tone_still_sounds(
    factory: MockFactory,
) -> None:
    release = threading.Event()

    def pause(seconds: float, cancelled: threading.Event) -> bool:
        release.wait(5)
        return False

    ind = GpioIndicators(LEDS, BUZZER, pin_factory=factory, pause=pause)
    try:
        ind.show(IndicatorState.SUCCESS)
        assert ind.flush(timeout=5)
        assert leds(factory) == [True, True, True, True]
        assert factory.pin(BUZZER).frequency == 1500.0
        assert not ind.wait(timeout=0)  # the tone has not ended
        release.set()
        assert ind.wait(timeout=5)
        ind.show(IndicatorState.READY)  # no tone: shown once the LEDs are set
        assert ind.flush(timeout=5)
        assert leds(factory) == [True, False, False, False]
    finally:
        release.set()
        ind.close()


class CutRecorder:
    """A tone step that waits until the owner cuts it short: ``entered`` once a tone plays,
    ``cut`` whether each step was cut (rather than timing out after 5 s)."""

    def __init__(self) -> None:
        self.entered = threading.Event()
        self.cut: list[bool] = []

    def __call__(self, seconds: float, cancelled: threading.Event) -> bool:
        self.entered.set()
        self.cut.append(cancelled.wait(5))
        return self.cut[-1]


def test_a_new_state_cuts_the_previous_tone_short(factory: MockFactory) -> None:
    pause = CutRecorder()
    entered, cut = pause.entered, pause.cut

    ind = GpioIndicators(LEDS, BUZZER, pin_factory=factory, pause=pause)
    try:
        ind.show(IndicatorState.ERROR)
        assert entered.wait(5)
        assert factory.pin(BUZZER).frequency == 750.0
        ind.show(IndicatorState.READY)
        assert ind.wait(timeout=5)
        assert cut == [True]  # the first step of the alert was cut, the rest never played
        assert factory.pin(BUZZER).frequency is None
        assert leds(factory) == [True, False, False, False]
    finally:
        ind.close()


def _owner_threads() -> set[threading.Thread]:
    return {t for t in threading.enumerate() if t.name == "countertop-indicators"}


def test_states_are_shown_by_one_owner_thread_started_by_the_first_show(
    factory: MockFactory, recorder: ToneRecorder
) -> None:
    before = _owner_threads()
    ind = GpioIndicators(LEDS, BUZZER, pin_factory=factory, pause=recorder)
    try:
        assert _owner_threads() == before  # nothing started by construction
        owners = set()
        for state in [IndicatorState.READY, *[IndicatorState.SUCCESS] * 3]:
            ind.show(state)
            assert ind.wait(timeout=5)
            owners |= _owner_threads() - before
        assert len(owners) == 1
        assert recorder.steps == [(1500.0, 0.5)] * 3
    finally:
        ind.close()
    assert _owner_threads() == before  # close() stopped the owner


def test_close_cuts_a_playing_tone_and_stops_the_owner(factory: MockFactory) -> None:
    pause = CutRecorder()
    entered, cut = pause.entered, pause.cut

    before = _owner_threads()
    ind = GpioIndicators(LEDS, BUZZER, pin_factory=factory, pause=pause)
    ind.show(IndicatorState.SUCCESS)
    assert entered.wait(5)
    ind.close()
    assert cut == [True]
    assert _owner_threads() == before
    assert ind.wait(timeout=0)


def test_show_never_raises_even_when_the_hardware_fails(
    ind: GpioIndicators,
    factory: MockFactory,
    recorder: ToneRecorder,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    def broken() -> None:
        raise OSError("GPIO chip vanished")

    monkeypatch.setattr(ind.leds, "off", broken)
    ind.show(IndicatorState.READY)
    ind.show("not a state")  # type: ignore[arg-type]
    # The owner survives the broken LEDs and still sounds the buzzer.
    ind.show(IndicatorState.SUCCESS)
    assert ind.wait(timeout=5)
    assert recorder.steps == [(1500.0, 0.5)]


def test_show_after_close_does_nothing(factory: MockFactory) -> None:
    ind = GpioIndicators(LEDS, BUZZER, pin_factory=factory)
    ind.close()
    ind.show(IndicatorState.SUCCESS)
    ind.close()


def test_the_optional_button_reads_its_pin(factory: MockFactory) -> None:
    ind = make_indicators(
        "mock", led_pins=LEDS, buzzer_pin=BUZZER, button_pin=21, pin_factory=factory
    )
    assert isinstance(ind, GpioIndicators) and ind.button is not None
    pressed = threading.Event()
    ind.button.when_pressed = pressed.set
    factory.pin(21).drive_low()
    assert pressed.wait(5)
    ind.close()


def test_mock_backend_is_gpiozero_on_its_own_mock_factory() -> None:
    ind = make_indicators("mock", led_pins=LEDS, buzzer_pin=BUZZER, button_pin=-1)
    assert isinstance(ind, GpioIndicators) and ind.button is None
    ind.show(IndicatorState.READY)
    assert isinstance(ind, GpioIndicators) and ind.wait(timeout=5)
    factory = ind.leds.pin_factory
    assert isinstance(factory, MockFactory)
    assert factory.pin(LEDS[0]).state
    ind.close()


def test_none_backend_only_remembers_the_state() -> None:
    ind = make_indicators("none", led_pins=[], buzzer_pin=0)
    assert isinstance(ind, NoIndicators)
    ind.show(IndicatorState.SUCCESS)
    assert ind.state is IndicatorState.SUCCESS
    ind.close()


@pytest.mark.parametrize(
    ("backend", "led_pins", "buzzer", "words"),
    [
        ("pwm", LEDS, BUZZER, "unknown indicators backend"),
        ("mock", [5, 6, 13], BUZZER, "exactly four"),
        ("mock", LEDS, LEDS[0], "must all differ"),
    ],
)
def test_bad_indicator_config_is_refused(
    backend: str, led_pins: list[int], buzzer: int, words: str
) -> None:
    with pytest.raises(ConfigError, match=words):
        make_indicators(backend, led_pins=led_pins, buzzer_pin=buzzer)


@pytest.mark.filterwarnings("ignore::gpiozero.exc.PinFactoryFallback")
def test_gpio_backend_without_gpio_hardware_is_an_error_not_the_mock() -> None:
    try:
        ind = make_indicators("gpio", led_pins=LEDS, buzzer_pin=BUZZER)
    except DeviceError as exc:
        assert "backend" in str(exc)
    else:  # on a Raspberry Pi the real pins open
        ind.close()
        pytest.skip("real GPIO is available here")
