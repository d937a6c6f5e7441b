"""Receipt printer port (``base``), python-escpos connections and a simulating mock."""
