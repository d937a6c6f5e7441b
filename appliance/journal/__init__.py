"""The durable journal: SQLite (WAL, synchronous=FULL), migrations, unit of work."""
