"""countertop: the payment terminal appliance (domain, journal, acquirer link, services, CLI)."""

__version__ = "0.1.0"
