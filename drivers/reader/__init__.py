"""Contactless card reader port (``base``), nfcpy implementation and APDU-level mock."""
