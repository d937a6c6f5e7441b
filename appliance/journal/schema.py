"""Journal schema migrations. Each is applied in one SQLite transaction with its version row.

Append new migrations at the end; never edit one that has shipped. Every migration is literal
DDL written here, never imported from live code: a change to a module must not change history.
``tests/fixtures/journal_schema/NNNN.sql`` holds the schema after each shipped version and a test
checks the migrations still produce it (``db.schema_dump`` writes that text).
"""

from __future__ import annotations

# Migration 2 as it shipped (flush left, as the file's sqlite_master has always recorded it).
_OPERATORS_V2 = """
CREATE TABLE operators (
    number          TEXT PRIMARY KEY CHECK (number GLOB '[0-9][0-9]'),
    name            TEXT NOT NULL,
    role            TEXT NOT NULL CHECK (role IN ('operator', 'supervisor', 'technician')),
    password_hash   TEXT NOT NULL,
    failed_attempts INTEGER NOT NULL DEFAULT 0,
    locked_until    TEXT,
    created_at      TEXT NOT NULL,
    password_set_at TEXT NOT NULL
);
"""

MIGRATIONS: list[tuple[int, str, str]] = [
    (
        1,
        "transactions, counters, outbox, audit, session",
        """
        CREATE TABLE counters (
            name  TEXT PRIMARY KEY,
            value INTEGER NOT NULL
        );
        INSERT INTO counters (name, value) VALUES ('stan', 0), ('invoice', 0), ('batch', 1);

        CREATE TABLE transactions (
            uuid           TEXT PRIMARY KEY,
            type           TEXT NOT NULL CHECK (type IN ('sale', 'void', 'refund')),
            state          TEXT NOT NULL,
            amount         INTEGER NOT NULL CHECK (amount > 0),
            currency       TEXT NOT NULL,
            stan           INTEGER NOT NULL CHECK (stan BETWEEN 1 AND 999999),
            batch          INTEGER NOT NULL,
            invoice        INTEGER NOT NULL,
            masked_pan     TEXT NOT NULL DEFAULT '',
            scheme         TEXT NOT NULL DEFAULT '',
            entry_mode     TEXT NOT NULL DEFAULT '',
            aid            TEXT NOT NULL DEFAULT '',
            label          TEXT NOT NULL DEFAULT '',
            card_blob      BLOB,
            rrn            TEXT,
            auth_code      TEXT,
            response_code  TEXT,
            original_uuid  TEXT REFERENCES transactions (uuid),
            original_stan  INTEGER,
            operator       TEXT NOT NULL DEFAULT '',
            offline        INTEGER NOT NULL DEFAULT 0,
            note           TEXT NOT NULL DEFAULT '',
            transmitted_at TEXT NOT NULL,
            created_at     TEXT NOT NULL,
            updated_at     TEXT NOT NULL,
            local_date     TEXT NOT NULL
        );
        CREATE INDEX ix_txn_stan ON transactions (stan);
        CREATE INDEX ix_txn_batch ON transactions (batch);
        CREATE INDEX ix_txn_state ON transactions (state);
        CREATE INDEX ix_txn_date ON transactions (local_date);
        CREATE INDEX ix_txn_rrn ON transactions (rrn);
        CREATE INDEX ix_txn_original ON transactions (original_uuid);

        CREATE TABLE outbox (
            id              INTEGER PRIMARY KEY AUTOINCREMENT,
            kind            TEXT NOT NULL CHECK (kind IN ('reversal', 'advice')),
            txn_uuid        TEXT NOT NULL REFERENCES transactions (uuid),
            stan            INTEGER NOT NULL,
            transmitted_at  TEXT NOT NULL,
            attempts        INTEGER NOT NULL DEFAULT 0,
            next_attempt_at TEXT NOT NULL,
            last_error      TEXT NOT NULL DEFAULT '',
            created_at      TEXT NOT NULL,
            UNIQUE (kind, txn_uuid)
        );

        CREATE TABLE audit (
            id       INTEGER PRIMARY KEY AUTOINCREMENT,
            at       TEXT NOT NULL,
            operator TEXT NOT NULL,
            action   TEXT NOT NULL,
            detail   TEXT NOT NULL DEFAULT ''
        );

        CREATE TABLE session (
            key   TEXT PRIMARY KEY,
            value TEXT NOT NULL
        );
        """,
    ),
    (2, "operators", _OPERATORS_V2),
    (
        3,
        "print queue",
        """
        CREATE TABLE print_jobs (
            seq        INTEGER PRIMARY KEY AUTOINCREMENT,
            id         TEXT NOT NULL UNIQUE,
            what       TEXT NOT NULL,
            txn_uuid   TEXT REFERENCES transactions (uuid),
            copy       TEXT NOT NULL DEFAULT '',
            data       BLOB NOT NULL,
            state      TEXT NOT NULL CHECK (state IN ('queued', 'printing', 'done')),
            attempts   INTEGER NOT NULL DEFAULT 0,
            last_error TEXT NOT NULL DEFAULT '',
            created_at TEXT NOT NULL,
            printed_at TEXT
        );
        CREATE INDEX ix_print_state ON print_jobs (state, seq);
        """,
    ),
    (
        4,
        "settlements and reconciliations",
        """
        CREATE TABLE settlements (
            batch            INTEGER PRIMARY KEY,
            state            TEXT NOT NULL
                             CHECK (state IN ('open', 'totals_sent', 'uploading', 'closed')),
            terminal_totals  TEXT NOT NULL,
            host_totals      TEXT,
            result           TEXT CHECK (result IN
                             ('balanced', 'balanced_after_upload', 'out_of_balance')),
            response_code    TEXT,
            totals_stan      INTEGER,
            totals_at        TEXT,
            upload_total     INTEGER NOT NULL DEFAULT 0,
            uploaded         INTEGER NOT NULL DEFAULT 0,
            upload_stan_base INTEGER,
            upload_at        TEXT,
            final_stan       INTEGER,
            final_at         TEXT,
            opened_at        TEXT,
            cut_at           TEXT NOT NULL,
            closed_at        TEXT,
            slip_queued      INTEGER NOT NULL DEFAULT 0,
            operator         TEXT NOT NULL DEFAULT '',
            last_error       TEXT NOT NULL DEFAULT ''
        );

        CREATE TABLE reconciliations (
            id          INTEGER PRIMARY KEY AUTOINCREMENT,
            imported_at TEXT NOT NULL,
            statement   TEXT NOT NULL,
            result      TEXT NOT NULL
        );
        """,
    ),
    (
        6,
        "card decision, TVR and CVM results of each card payment",
        """
        ALTER TABLE transactions ADD COLUMN decision TEXT NOT NULL DEFAULT '';
        ALTER TABLE transactions ADD COLUMN tvr TEXT NOT NULL DEFAULT '';
        ALTER TABLE transactions ADD COLUMN cvm TEXT NOT NULL DEFAULT '';
        """,
    ),
    (
        11,
        "fleet outbox: journal events written in the same transaction as the change",
        """
        CREATE TABLE fleet_outbox (
            id       INTEGER PRIMARY KEY AUTOINCREMENT,
            event_id TEXT NOT NULL UNIQUE,
            kind     TEXT NOT NULL,
            at       TEXT NOT NULL,
            body     TEXT NOT NULL,
            sent_at  TEXT
        );
        CREATE INDEX ix_fleet_unsent ON fleet_outbox (sent_at, id);

        CREATE TRIGGER fleet_txn_changed AFTER UPDATE OF state ON transactions
        WHEN NEW.state <> OLD.state
         AND EXISTS (SELECT 1 FROM session WHERE key = 'fleet.enabled' AND value = '1')
        BEGIN
            INSERT OR IGNORE INTO fleet_outbox (event_id, kind, at, body) VALUES (
                'txn:' || NEW.uuid || ':' || NEW.state, 'transaction', NEW.updated_at,
                json_object(
                    'uuid', NEW.uuid, 'type', NEW.type, 'state', NEW.state,
                    'previous_state', OLD.state, 'amount', NEW.amount,
                    'currency', NEW.currency, 'stan', NEW.stan, 'batch', NEW.batch,
                    'invoice', NEW.invoice, 'masked_pan', NEW.masked_pan,
                    'scheme', NEW.scheme, 'entry_mode', NEW.entry_mode, 'aid', NEW.aid,
                    'label', NEW.label, 'rrn', NEW.rrn, 'auth_code', NEW.auth_code,
                    'response_code', NEW.response_code, 'original_uuid', NEW.original_uuid,
                    'original_stan', NEW.original_stan, 'operator', NEW.operator,
                    'offline', NEW.offline, 'local_date', NEW.local_date,
                    'created_at', NEW.created_at, 'updated_at', NEW.updated_at
                )
            );
        END;

        CREATE TRIGGER fleet_txn_inserted AFTER INSERT ON transactions
        WHEN NEW.state <> 'pending'
         AND EXISTS (SELECT 1 FROM session WHERE key = 'fleet.enabled' AND value = '1')
        BEGIN
            INSERT OR IGNORE INTO fleet_outbox (event_id, kind, at, body) VALUES (
                'txn:' || NEW.uuid || ':' || NEW.state, 'transaction', NEW.updated_at,
                json_object(
                    'uuid', NEW.uuid, 'type', NEW.type, 'state', NEW.state,
                    'previous_state', NULL, 'amount', NEW.amount,
                    'currency', NEW.currency, 'stan', NEW.stan, 'batch', NEW.batch,
                    'invoice', NEW.invoice, 'masked_pan', NEW.masked_pan,
                    'scheme', NEW.scheme, 'entry_mode', NEW.entry_mode, 'aid', NEW.aid,
                    'label', NEW.label, 'rrn', NEW.rrn, 'auth_code', NEW.auth_code,
                    'response_code', NEW.response_code, 'original_uuid', NEW.original_uuid,
                    'original_stan', NEW.original_stan, 'operator', NEW.operator,
                    'offline', NEW.offline, 'local_date', NEW.local_date,
                    'created_at', NEW.created_at, 'updated_at', NEW.updated_at
                )
            );
        END;

        CREATE TRIGGER fleet_settlement_closed AFTER UPDATE OF state ON settlements
        WHEN NEW.state = 'closed' AND OLD.state <> 'closed'
         AND EXISTS (SELECT 1 FROM session WHERE key = 'fleet.enabled' AND value = '1')
        BEGIN
            INSERT OR IGNORE INTO fleet_outbox (event_id, kind, at, body) VALUES (
                'settle:' || NEW.batch || ':' || NEW.cut_at, 'settlement',
                COALESCE(NEW.closed_at, NEW.cut_at),
                json_object(
                    'batch', NEW.batch, 'result', NEW.result,
                    'response_code', NEW.response_code,
                    'terminal_totals', CASE WHEN json_valid(NEW.terminal_totals)
                        THEN json(NEW.terminal_totals) ELSE NEW.terminal_totals END,
                    'host_totals', CASE WHEN json_valid(NEW.host_totals)
                        THEN json(NEW.host_totals) ELSE NEW.host_totals END,
                    'uploaded', NEW.uploaded, 'cut_at', NEW.cut_at,
                    'closed_at', NEW.closed_at, 'operator', NEW.operator
                )
            );
        END;

        CREATE TRIGGER fleet_reconciliation AFTER INSERT ON reconciliations
        WHEN EXISTS (SELECT 1 FROM session WHERE key = 'fleet.enabled' AND value = '1')
        BEGIN
            INSERT OR IGNORE INTO fleet_outbox (event_id, kind, at, body) VALUES (
                'recon:' || NEW.id || ':' || NEW.imported_at, 'reconciliation',
                NEW.imported_at,
                json_object(
                    'statement', NEW.statement, 'imported_at', NEW.imported_at,
                    'result', CASE WHEN json_valid(NEW.result)
                        THEN json(NEW.result) ELSE NEW.result END
                )
            );
        END;
        """,
    ),
    (
        13,
        "print jobs as documents, claimed with a lease; one print owner per printer",
        """
        CREATE TABLE print_jobs_13 (
            seq         INTEGER PRIMARY KEY AUTOINCREMENT,
            id          TEXT NOT NULL UNIQUE,
            what        TEXT NOT NULL,
            txn_uuid    TEXT REFERENCES transactions (uuid),
            copy        TEXT NOT NULL DEFAULT '',
            document    TEXT,
            data        BLOB,
            state       TEXT NOT NULL CHECK (state IN
                        ('queued', 'printing', 'uncertain', 'done', 'needs_attention')),
            attempts    INTEGER NOT NULL DEFAULT 0,
            duplicate   INTEGER NOT NULL DEFAULT 0,
            lease_owner TEXT,
            lease_until REAL,
            last_error  TEXT NOT NULL DEFAULT '',
            created_at  TEXT NOT NULL,
            printed_at  TEXT,
            CHECK (document IS NOT NULL OR data IS NOT NULL)
        );
        INSERT INTO print_jobs_13 (seq, id, what, txn_uuid, copy, data, state, attempts,
                                   duplicate, last_error, created_at, printed_at)
        SELECT seq, id, what, txn_uuid, copy, data,
               CASE state WHEN 'printing' THEN 'uncertain' ELSE state END, attempts,
               CASE state WHEN 'printing' THEN 1 ELSE 0 END, last_error, created_at, printed_at
        FROM print_jobs;
        DROP TABLE print_jobs;
        ALTER TABLE print_jobs_13 RENAME TO print_jobs;
        CREATE INDEX ix_print_state ON print_jobs (state, seq);

        CREATE TABLE print_owners (
            printer TEXT PRIMARY KEY,
            owner   TEXT NOT NULL,
            kind    TEXT NOT NULL,
            until   REAL NOT NULL,
            status  TEXT NOT NULL DEFAULT ''
        );
        """,
    ),
    (
        15,
        "QR orders: payments by WeChat Pay, Alipay and UnionPay QR, their refunds, owed cancels",
        """
        CREATE TABLE qr_orders (
            order_no        TEXT PRIMARY KEY,
            kind            TEXT NOT NULL CHECK (kind IN ('pay', 'refund')),
            state           TEXT NOT NULL,
            amount          INTEGER NOT NULL CHECK (amount > 0),
            currency        TEXT NOT NULL,
            wallet          TEXT NOT NULL DEFAULT '',
            mode            TEXT NOT NULL DEFAULT '',
            batch           INTEGER NOT NULL,
            trade_no        TEXT NOT NULL DEFAULT '',
            payer           TEXT NOT NULL DEFAULT '',
            original        TEXT REFERENCES qr_orders (order_no),
            gateway_state   TEXT NOT NULL DEFAULT '',
            err_code        TEXT NOT NULL DEFAULT '',
            operator        TEXT NOT NULL DEFAULT '',
            note            TEXT NOT NULL DEFAULT '',
            attempts        INTEGER NOT NULL DEFAULT 0,
            next_attempt_at TEXT,
            last_error      TEXT NOT NULL DEFAULT '',
            created_at      TEXT NOT NULL,
            updated_at      TEXT NOT NULL,
            local_date      TEXT NOT NULL
        );
        CREATE INDEX ix_qr_state ON qr_orders (state);
        CREATE INDEX ix_qr_batch ON qr_orders (batch);
        CREATE INDEX ix_qr_date ON qr_orders (local_date);
        CREATE INDEX ix_qr_original ON qr_orders (original);
        INSERT INTO counters (name, value) VALUES ('qr_order', 0);
        """,
    ),
]
