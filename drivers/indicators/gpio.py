"""Four status LEDs and a PWM buzzer on gpiozero, following the EMV contactless convention.

=========== =================================== ===================================
State        LEDs (1 2 3 4)                      Sound
=========== =================================== ===================================
OFF          all off                              none
IDLE         LED1 blinks (200 ms every 5 s)       none
READY        LED1 steady                          none
PROCESSING   LED1 + LED2                          none
SUCCESS      all four                             success tone 1500 Hz, 500 ms
ERROR        all off                              alert tone 750 Hz, 200 ms twice
=========== =================================== ===================================

The mock backend is this same class on gpiozero's ``MockFactory(pin_class=MockPWMPin)``.
Tones play in a background thread so ``show()`` returns at once; a newer ``show()`` cuts an
older tone short. ``pause`` is the one place time passes, so tests can replace it and look at
the pins at every step.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from gpiozero import LED, Button, LEDBoard, TonalBuzzer
from gpiozero.tones import Tone

from drivers.indicators.base import IndicatorState

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Beep:
    """One step of a tone pattern: ``hz`` (None = silence) for ``seconds``."""

    hz: float | None
    seconds: float


#: EMV contactless success tone and alert tone.
SUCCESS_TONE: tuple[Beep, ...] = (Beep(1500.0, 0.5),)
ALERT_TONE: tuple[Beep, ...] = (Beep(750.0, 0.2), Beep(None, 0.2), Beep(750.0, 0.2))

#: IDLE blink: LED1 on for ``IDLE_ON`` seconds every ``IDLE_ON + IDLE_OFF`` seconds.
IDLE_ON, IDLE_OFF = 0.2, 4.8

#: ``pause(seconds, cancelled)``: wait, returning True when the wait was cut short.
Pause = Callable[[float, threading.Event], bool]


def _real_pause(seconds: float, cancelled: threading.Event) -> bool:
    return cancelled.wait(seconds)


class GpioIndicators:
    """The ``Indicators`` port on four LEDs, a TonalBuzzer and an optional button.

    ``led_pins``: four BCM numbers, LED1 first. ``pin_factory``: gpiozero factory (None = the
    default, lgpio on a Pi). ``idle_blink``: (on, off) seconds for IDLE. ``pause``: how tones
    wait (tests pass one that records the pins instead of sleeping).
    Construction raises gpiozero's errors (pin in use, no GPIO); ``show`` never raises.
    """

    def __init__(
        self,
        led_pins: Sequence[int],
        buzzer_pin: int,
        button_pin: int | None = None,
        *,
        pin_factory: object | None = None,
        idle_blink: tuple[float, float] = (IDLE_ON, IDLE_OFF),
        pause: Pause = _real_pause,
    ) -> None:
        self._closed = False
        self._lock = threading.Lock()
        self._generation = 0
        self._cancel = threading.Event()
        self._tone_thread: threading.Thread | None = None
        self._idle_blink = idle_blink
        self._pause = pause
        self.state = IndicatorState.OFF
        self.leds = LEDBoard(*led_pins, pin_factory=pin_factory)
        try:
            # Mid tone 1 kHz, two octaves: 250-4000 Hz covers both EMV tones.
            self.buzzer = TonalBuzzer(
                buzzer_pin, mid_tone=Tone(frequency=1000.0), octaves=2, pin_factory=pin_factory
            )
            self.button: Button | None = (
                Button(button_pin, pin_factory=pin_factory) if button_pin is not None else None
            )
        except Exception:
            self.leds.close()
            if hasattr(self, "buzzer"):
                self.buzzer.close()
            raise

    def _led(self, n: int) -> LED:
        led = self.leds[n - 1]
        assert isinstance(led, LED)
        return led

    # -- the port ------------------------------------------------------------------------

    def show(self, state: IndicatorState) -> None:
        """Switch LEDs to ``state`` and start its tone in the background (never raises)."""
        try:
            self._show(IndicatorState(state))
        except Exception:
            # A dead LED or buzzer must never stop a sale; the log says what broke.
            log.exception("indicators: could not show %s", state)

    def _show(self, state: IndicatorState) -> None:
        if self._closed:
            return
        self.state = state
        self.leds.off()  # also stops a running blink
        if state is IndicatorState.IDLE:
            on, off = self._idle_blink
            self._led(1).blink(on_time=on, off_time=off, background=True)
        elif state is IndicatorState.READY:
            self._led(1).on()
        elif state is IndicatorState.PROCESSING:
            self._led(1).on()
            self._led(2).on()
        elif state is IndicatorState.SUCCESS:
            self.leds.on()
        if state is IndicatorState.SUCCESS:
            self._play(SUCCESS_TONE)
        elif state is IndicatorState.ERROR:
            self._play(ALERT_TONE)
        else:
            self._play(())

    def _play(self, pattern: Sequence[Beep]) -> None:
        """Start ``pattern`` in the background, cutting short whatever was playing."""
        with self._lock:
            self._generation += 1
            generation = self._generation
            self._cancel.set()
            self._cancel = cancel = threading.Event()
            self.buzzer.stop()
        if pattern:
            thread = threading.Thread(
                target=self._run_tone,
                args=(pattern, generation, cancel),
                name="countertop-buzzer",
                daemon=True,
            )
            self._tone_thread = thread
            thread.start()

    def _run_tone(self, pattern: Sequence[Beep], generation: int, cancel: threading.Event) -> None:
        try:
            for beep in pattern:
                with self._lock:
                    if generation != self._generation:
                        return  # a newer state owns the buzzer now
                    if beep.hz is None:
                        self.buzzer.stop()
                    else:
                        self.buzzer.play(Tone(frequency=beep.hz))
                if self._pause(beep.seconds, cancel):
                    return
            with self._lock:
                if generation == self._generation:
                    self.buzzer.stop()
        except Exception:
            log.exception("indicators: buzzer failed")

    def wait(self, timeout: float | None = None) -> bool:
        """Block until the current tone has finished; True if it has (for tests and shutdown)."""
        thread = self._tone_thread
        if thread is not None:
            thread.join(timeout)
            return not thread.is_alive()
        return True

    def close(self) -> None:
        """Silence the buzzer, turn the LEDs off and release every pin."""
        if self._closed:
            return
        self._closed = True
        with self._lock:
            self._generation += 1
            self._cancel.set()
        self.wait(timeout=2)
        for device in (self.leds, self.buzzer, self.button):
            if device is not None:
                try:
                    device.close()
                except Exception:
                    log.exception("indicators: closing %r failed", device)


class NoIndicators:
    """The ``none`` backend: no LEDs or buzzer fitted. Remembers the state for the screen."""

    def __init__(self) -> None:
        self.state = IndicatorState.OFF

    def show(self, state: IndicatorState) -> None:
        """Record ``state``; nothing to drive."""
        self.state = IndicatorState(state)

    def close(self) -> None:
        """Nothing to release."""
