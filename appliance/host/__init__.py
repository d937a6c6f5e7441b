"""The acquirer link: ISO 8583 dialects, MAC and keys, the TCP link, and the reference acquirer."""
