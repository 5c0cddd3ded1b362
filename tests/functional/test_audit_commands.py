"""`portal audit verify` lists every break with its row and exits 1; an intact log
exits 0 and says where the chain will go on (for adopting or rotating a key)."""

from __future__ import annotations

from click.testing import CliRunner
from sqlalchemy import text

from portal import cli, db
from portal.audit import AuditChainHead, audit, seal_chain


def _verify(app):
    return CliRunner().invoke(cli.main, ["audit", "verify"], obj=app)


def _rows(n: int) -> list:
    rows = [audit("read", "checkin", patient_id=f"c{i}") for i in range(n)]
    seal_chain(db.session)
    return rows


def _alter(connection, *rows) -> None:
    if connection.dialect.name == "postgresql":
        connection.execute(text("ALTER TABLE audit_log DISABLE TRIGGER USER"))
    else:
        connection.execute(text("DROP TRIGGER audit_log_seal_only"))
    for row in rows:
        connection.execute(
            text("UPDATE audit_log SET action='export' WHERE id=:i"), {"i": row.id}
        )


def test_verify_seals_new_rows_and_says_the_log_is_intact(app, app_ctx):
    _rows(3)
    audit("read", "checkin", patient_id="not-yet-sealed")
    result = _verify(app)
    assert result.exit_code == 0, result.output
    head = db.session.get(AuditChainHead, 1).last_seq
    assert result.stdout == (
        f"audit log intact: {head} rows checked, 0 not sealed yet; the next row "
        f"sealed gets sequence {head + 1}\n"
    )


def test_verify_lists_every_altered_row_and_exits_1(app, app_ctx, transaction):
    rows = _rows(4)
    _alter(transaction, rows[0], rows[3])
    db.session.expire_all()
    result = _verify(app)
    assert result.exit_code == 1
    broken = [line for line in result.stderr.splitlines() if "BROKEN" in line]
    assert len(broken) == 2
    assert f"row id {rows[0].id} " in broken[0] and "altered" in broken[0]
    assert f"row id {rows[3].id} " in broken[1] and "altered" in broken[1]
    assert "audit log BROKEN in 2 places" in result.stdout


def test_verify_with_the_wrong_key_asks_about_the_key(app, app_ctx, monkeypatch):
    monkeypatch.setitem(app.config, "AUDIT_KEYS", ())
    _rows(2)
    monkeypatch.setitem(app.config, "AUDIT_KEYS", ((1, b"k" * 32),))
    result = _verify(app)
    assert result.exit_code == 1
    assert "is PORTAL_AUDIT_KEY" in result.stderr
