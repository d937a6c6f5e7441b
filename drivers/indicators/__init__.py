"""Status LEDs and buzzer port (``base``), gpiozero implementation (MockFactory in tests).

``make_indicators`` builds the backend named in config. Nothing touches a pin until it is called.
"""

from __future__ import annotations

from collections.abc import Sequence

from appliance.errors import ConfigError, DeviceError
from drivers.indicators.base import Indicators, IndicatorState

__all__ = ["BACKENDS", "IndicatorState", "Indicators", "make_indicators"]

BACKENDS = ("gpio", "mock", "none")


def make_indicators(
    backend: str,
    *,
    led_pins: Sequence[int],
    buzzer_pin: int,
    button_pin: int | None = None,
    pin_factory: object | None = None,
) -> Indicators:
    """The indicators for ``backend``: "gpio" (real pins), "mock" (gpiozero MockFactory), "none".

    ``button_pin`` None or negative means no button. An unknown backend or bad pins is a
    ConfigError; GPIO that cannot be opened is a DeviceError (never replaced by the mock).
    """
    if backend == "none":
        from drivers.indicators.gpio import NoIndicators

        return NoIndicators()
    if backend not in ("gpio", "mock"):
        raise ConfigError(
            f"unknown indicators backend {backend!r}: expected one of {', '.join(BACKENDS)}"
        )
    pins = list(led_pins)
    if len(pins) != 4:
        raise ConfigError(f"indicators need exactly four led_pins, got {len(pins)}")
    button = button_pin if button_pin is not None and button_pin >= 0 else None
    used = [*pins, buzzer_pin, *([button] if button is not None else [])]
    if len(set(used)) != len(used):
        raise ConfigError(f"indicator pins must all differ: {used}")
    if backend == "mock" and pin_factory is None:
        from gpiozero.pins.mock import MockFactory, MockPWMPin

        pin_factory = MockFactory(pin_class=MockPWMPin)

    from gpiozero.exc import GPIOZeroError

    from drivers.indicators.gpio import GpioIndicators

    try:
        return GpioIndicators(pins, buzzer_pin, button, pin_factory=pin_factory)
    except (GPIOZeroError, OSError, RuntimeError) as exc:
        raise DeviceError(
            f"cannot open the indicator GPIO pins {used} ({exc}): check that this is a "
            "Raspberry Pi with lgpio installed and that countertop is in the gpio group, "
            'or set [indicators] backend = "none"'
        ) from exc
