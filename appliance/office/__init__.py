"""The back office: stores every terminal's fleet events and serves the web pages.

``ingest`` subscribes to the fleet topics and writes into ``db`` (SQLite or PostgreSQL);
``web`` is the server-rendered web app (sign-in, fleet overview, a terminal's day, search,
stubs, CSV export). See docs/fleet.md.
"""
