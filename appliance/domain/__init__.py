"""Pure domain: money, cards, transaction states, limits, totals, receipts. No I/O imports here."""
