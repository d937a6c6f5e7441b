"""Card profiles (JSON) for the mock reader and the udp card simulator; see docs/reader.md."""
