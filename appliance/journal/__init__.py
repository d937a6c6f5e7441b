"""The durable journal: SQLite (WAL, synchronous=FULL), migrations, unit of work."""

from appliance.journal.journal import Journal, OwedMessage, UnitOfWork, utcnow

__all__ = ["Journal", "OwedMessage", "UnitOfWork", "utcnow"]
