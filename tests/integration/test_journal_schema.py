"""The journal's history is frozen: each shipped schema version still comes out of the migrations.

``tests/fixtures/journal_schema/NNNN.sql`` is the schema (``sqlite_master``) after migrating a new
file up to version NNNN, checked in when that version shipped. Adding a migration adds a file
(``COUNTERTOP_REGEN_GOLDEN=1`` writes the missing ones; review them before committing); a change
that alters an existing file means a shipped migration changed, which is never allowed.
"""

from __future__ import annotations

import ast
import os
import sqlite3
from pathlib import Path

import pytest

from appliance.journal import schema
from appliance.journal.db import migrate, schema_dump
from appliance.journal.schema import MIGRATIONS

GOLDEN = Path(__file__).parents[1] / "fixtures" / "journal_schema"
REGEN = os.environ.get("COUNTERTOP_REGEN_GOLDEN") == "1"
VERSIONS = [version for version, _, _ in MIGRATIONS]


def dump_at(version: int) -> str:
    conn = sqlite3.connect(":memory:")
    try:
        migrate(conn, [m for m in MIGRATIONS if m[0] <= version])
        return schema_dump(conn)
    finally:
        conn.close()


def test_the_migrations_are_sorted_and_unique() -> None:
    assert sorted(set(VERSIONS)) == VERSIONS


@pytest.mark.parametrize("version", VERSIONS)
def test_the_schema_after_each_version_equals_the_one_it_shipped_with(version: int) -> None:
    golden = GOLDEN / f"{version:04d}.sql"
    if REGEN and not golden.exists():
        golden.write_text(dump_at(version), encoding="utf-8")
    assert golden.exists(), (
        f"no golden schema for migration {version}: run this test with COUNTERTOP_REGEN_GOLDEN=1 "
        f"to write {golden.name}, review it and commit it"
    )
    assert dump_at(version) == golden.read_text(encoding="utf-8")


def test_every_golden_schema_names_a_migration() -> None:
    shipped = {int(path.stem) for path in GOLDEN.glob("*.sql")}
    assert shipped <= set(VERSIONS), "a shipped migration was removed"


def test_the_migrations_import_no_live_code() -> None:
    tree = ast.parse(Path(schema.__file__).read_text(encoding="utf-8"))
    imported = [
        node.module if isinstance(node, ast.ImportFrom) else node.names[0].name
        for node in ast.walk(tree)
        if isinstance(node, ast.Import | ast.ImportFrom)
    ]
    assert imported == ["__future__"]
