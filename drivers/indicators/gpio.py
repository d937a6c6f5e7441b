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
The LEDs and the buzzer have one owner thread (started by the first ``show()``, stopped by
``close()``): ``show()`` hands it the state and returns at once; a newer ``show()`` cuts an
older tone short. ``pause`` is the one place time passes, so tests can replace it and look at
the pins at every step; ``wait()`` returns once the owner has caught up.
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

#: The steady LEDs (1 2 3 4) of each state but IDLE, which blinks LED1.
LIT: dict[IndicatorState, tuple[bool, bool, bool, bool]] = {
    IndicatorState.OFF: (False, False, False, False),
    IndicatorState.READY: (True, False, False, False),
    IndicatorState.PROCESSING: (True, True, False, False),
    IndicatorState.SUCCESS: (True, True, True, True),
    IndicatorState.ERROR: (False, False, False, False),
}

#: The tone of each state (the others are silent).
TONES: dict[IndicatorState, tuple[Beep, ...]] = {
    IndicatorState.SUCCESS: SUCCESS_TONE,
    IndicatorState.ERROR: ALERT_TONE,
}

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

    The LEDs and the buzzer have one owner: a thread started by the first ``show`` and stopped
    by ``close()``. ``show`` hands it the newest state and returns; the owner switches the LEDs
    and plays the state's tone. A thread per tone cost more than everything else ``show`` does
    (milliseconds on a loaded machine, once per payment).
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
        # Guards what show() hands the owner: _request, _cancel, _idle, _owner, _closed.
        self._cond = threading.Condition()
        self._request: IndicatorState | None = None  # newest state the owner has not taken
        self._cancel = threading.Event()  # set: cut the tone being played short
        self._idle = True  # nothing waiting and no tone playing
        self._posted = 0  # states handed to the owner so far
        self._shown = 0  # of those, how many it has switched to (LEDs set, tone started)
        self._owner: threading.Thread | None = None
        self._blinking = False  # LED1 blinks (IDLE); only the owner reads or sets this
        # The steady LEDs as the owner last set them (None: not known, read the pins); only
        # the owner reads or sets this. Saves reading four pins per state change.
        self._lit: tuple[bool, bool, bool, bool] | None = None
        self._tones: dict[float, Tone] = {}  # one Tone per frequency played, built once
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
        """Hand ``state`` to the owner thread, cutting short the tone it plays (never raises,
        never waits for the pins)."""
        try:
            self._post(IndicatorState(state))
        except Exception:
            # A dead LED or buzzer must never stop a sale; the log says what broke.
            log.exception("indicators: could not show %s", state)

    def _post(self, state: IndicatorState) -> None:
        with self._cond:
            if self._closed:
                return
            self.state = state
            self._cancel.set()
            self._cancel = threading.Event()
            self._request = state
            self._posted += 1
            self._idle = False
            if self._owner is None:
                self._owner = threading.Thread(
                    target=self._own, name="countertop-indicators", daemon=True
                )
                self._owner.start()
            self._cond.notify_all()

    def flush(self, timeout: float | None = None) -> bool:
        """Block until the owner has switched to the last state handed to it: its LEDs are
        set and its tone has started (and may still be sounding); True if it has."""
        with self._cond:
            return self._cond.wait_for(lambda: self._shown == self._posted, timeout)

    def wait(self, timeout: float | None = None) -> bool:
        """Block until the owner has shown every state handed to it and its tone has ended (or
        was cut short); True if it has. Tests call this instead of sleeping."""
        with self._cond:
            return self._cond.wait_for(lambda: self._idle, timeout)

    def close(self) -> None:
        """Silence the buzzer, stop the owner, turn the LEDs off and release every pin."""
        with self._cond:
            if self._closed:
                return
            self._closed = True
            self._request = None
            self._cancel.set()
            owner = self._owner
            self._cond.notify_all()
        if owner is not None and owner is not threading.current_thread():
            owner.join(timeout=2)
            if owner.is_alive():
                log.warning("indicators: the owner thread did not stop within 2 s")
        for device in (self.leds, self.buzzer, self.button):
            if device is not None:
                try:
                    device.close()
                except Exception:
                    log.exception("indicators: closing %r failed", device)

    # -- the owner thread ----------------------------------------------------------------

    def _own(self) -> None:
        """Show the newest state handed over, one at a time, until ``close()``."""
        while True:
            with self._cond:
                while self._request is None and not self._closed:
                    self._idle = True
                    self._cond.notify_all()
                    self._cond.wait()
                if self._closed:
                    break
                state, cancel, seq = self._request, self._cancel, self._posted
                self._request = None
            assert state is not None
            self._switch_leds(state)
            self._sound(TONES.get(state, ()), cancel, lambda seq=seq: self._mark_shown(seq))
        self._sound((), self._cancel)  # silent once closed
        with self._cond:
            self._idle = True
            self._shown = self._posted
            self._cond.notify_all()

    def _mark_shown(self, seq: int) -> None:
        with self._cond:
            self._shown = seq
            self._cond.notify_all()

    def _switch_leds(self, state: IndicatorState) -> None:
        """Set the LEDs of ``state``, writing only those that change (a payment shows
        SUCCESS twice: after the read and after the approval)."""
        try:
            if state is IndicatorState.IDLE:
                self.leds.off()
                on, off = self._idle_blink
                self._led(1).blink(on_time=on, off_time=off, background=True)
                self._blinking = True
                self._lit = None
                return
            if self._blinking:
                self.leds.off()  # stops the blink
                self._blinking = False
                self._lit = LIT[IndicatorState.OFF]
            want = LIT[state]
            if want == self._lit:
                return
            for n, lit in enumerate(want, start=1):
                was = self._lit[n - 1] if self._lit is not None else None
                led = self._led(n)
                if was is None:
                    was = led.is_lit
                if was != lit:
                    led.value = lit
            self._lit = want
        except Exception:
            self._lit = None  # some LED may not be what it should: read them next time
            log.exception("indicators: LEDs could not show %s", state)

    def _sound(
        self,
        pattern: Sequence[Beep],
        cancel: threading.Event,
        started: Callable[[], None] | None = None,
    ) -> None:
        """Play ``pattern`` until it ends or ``cancel`` is set; the buzzer is silent after.

        ``started`` is called once the first step sounds (or, for no tone, at the end).
        """
        try:
            for beep in pattern:
                if cancel.is_set():
                    break
                if beep.hz is None:
                    self.buzzer.stop()
                else:
                    tone = self._tones.get(beep.hz)
                    if tone is None:
                        tone = self._tones[beep.hz] = Tone(frequency=beep.hz)
                    self.buzzer.play(tone)
                if started is not None:
                    started()
                    started = None
                if self._pause(beep.seconds, cancel):
                    break
            self.buzzer.stop()
        except Exception:
            log.exception("indicators: buzzer failed")
        finally:
            if started is not None:
                started()


class NoIndicators:
    """The ``none`` backend: no LEDs or buzzer fitted. Remembers the state for the screen."""

    def __init__(self) -> None:
        self.state = IndicatorState.OFF

    def show(self, state: IndicatorState) -> None:
        """Record ``state``; nothing to drive."""
        self.state = IndicatorState(state)

    def close(self) -> None:
        """Nothing to release."""
