"""Status LEDs and buzzer port (``base``), gpiozero implementation (MockFactory in tests)."""
