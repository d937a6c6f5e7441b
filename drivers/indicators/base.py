"""The indicators port: four status LEDs and a buzzer following the EMV contactless convention.

Implementations must provide ``show()``; they may override ``close()``. ``show`` never raises:
indicators are advisory and a broken LED must not stop a sale.
"""

from __future__ import annotations

from enum import StrEnum
from typing import Protocol


class IndicatorState(StrEnum):
    """Reader states shown on the LEDs (and mirrored on screen)."""

    OFF = "off"
    IDLE = "idle"  # LED1 blinking
    READY = "ready"  # LED1 steady: present card
    PROCESSING = "processing"  # LED1+LED2
    SUCCESS = "success"  # all four on + success tone (~1500 Hz, ~0.5 s)
    ERROR = "error"  # alert tone (~750 Hz) twice


class Indicators(Protocol):
    """Drive the LEDs and buzzer."""

    def show(self, state: IndicatorState) -> None:
        """Switch to ``state`` (non-blocking)."""
        ...

    def close(self) -> None:
        """Release the pins."""
        ...
