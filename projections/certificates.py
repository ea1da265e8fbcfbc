"""Certificates: each learner's newest record of each code, with its expiry date.

A learner who renews a qualification holds several records of one code; the newest
(by completion date) is the certificate that counts, and the older ones stay in
the record book with their own dates. The tables are part of the training-records
read model, because choosing the newest record after a delete reads that model's
own rows.

Expiry dates are stored so the Certificate Expiration report can page through them
in order; statuses are not, since they depend on the day asked. A change of a
code's validity rewrites the expiry dates of that code's certificates in the same
batch that applies the change.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, replace
from datetime import date, timedelta

from domain.validity import CertificateStatus, CodeValiditySet, expiry_date
from projections.database import Db, Writer, one_of
from projections.paging import Page, decode_cursor, encode_cursor

TABLES = ("code_validity", "certificates")
SCHEMA = (
    """CREATE TABLE code_validity (
        code_id TEXT PRIMARY KEY,
        months INTEGER NOT NULL
    )""",
    """CREATE TABLE certificates (
        learner_id TEXT NOT NULL,
        code_id TEXT NOT NULL,
        record_id TEXT NOT NULL,
        completion_date TEXT NOT NULL,
        expires_on TEXT,
        PRIMARY KEY (learner_id, code_id)
    )""",
    # A change of validity finds the code's certificates through this one.
    "CREATE INDEX certificates_by_code "
    "ON certificates (code_id, expires_on, record_id)",
)
READ_INDEXES = (
    "CREATE INDEX certificates_by_expiry ON certificates (expires_on, record_id)",
)

_MEMO = "validity"
_NEWEST = "certificates-newest"
# The certificates' statements touch only their own tables, so a run of them is
# sent whole even when the records' statements come in between.
LANE = "certificates"
_NEWER = (
    "INSERT INTO certificates VALUES (?,?,?,?,?) "
    "ON CONFLICT (learner_id, code_id) DO UPDATE SET "
    "record_id = excluded.record_id, completion_date = excluded.completion_date, "
    "expires_on = excluded.expires_on "
    "WHERE (excluded.completion_date, excluded.record_id) "
    "> (certificates.completion_date, certificates.record_id)"
)


def validity_months(db: Writer, code_id: str) -> int | None:
    """A code's validity as this read model has it, read once per batch."""
    months = db.memo.get(_MEMO)
    if months is None:
        rows = db.execute("SELECT code_id, months FROM code_validity")
        months = db.memo[_MEMO] = {row[0]: row[1] for row in rows}
    return months.get(code_id)


def _expires(months: int | None, completion_date: str) -> str | None:
    expires = expiry_date(date.fromisoformat(completion_date), months)
    return expires.isoformat() if expires else None


def record_added(
    db: Writer, learner_id: str, code_id: str, record_id: str, completion_date: str
) -> None:
    """A new record becomes the certificate when it is the newest of its code."""
    # What this batch has made of each certificate, as (completion date, record
    # id): the certificate is at least that new, so an older record changes
    # nothing, and a newer one can take the place of the row still held back. A
    # learner's import brings many records of each code, most of them in one batch.
    # Dates are ISO dates and record ids canonical UUIDs, which every collation
    # orders as Python does.
    newest: dict[tuple[str, str], tuple[str, str]] = db.memo.setdefault(_NEWEST, {})
    key = (learner_id, code_id)
    order = (completion_date, record_id)
    known = newest.get(key)
    if known is not None and order <= known:
        return
    newest[key] = order
    expires = _expires(validity_months(db, code_id), completion_date)
    db.write(
        _NEWER,
        (learner_id, code_id, record_id, completion_date, expires),
        lane=LANE,
        key=key,
    )


def refresh(db: Writer, learner_id: str, code_id: str) -> None:
    """Choose the certificate again from the learner's remaining records."""
    db.memo.get(_NEWEST, {}).pop((learner_id, code_id), None)
    newest = db.execute(
        "SELECT record_id, completion_date FROM training_records "
        "WHERE learner_id = ? AND code_id = ? "
        "ORDER BY completion_date DESC, record_id DESC LIMIT 1",
        (learner_id, code_id),
    ).fetchone()
    if newest is None:
        db.write(
            "DELETE FROM certificates WHERE learner_id = ? AND code_id = ?",
            (learner_id, code_id),
            lane=LANE,
        )
        return
    expires = _expires(validity_months(db, code_id), newest["completion_date"])
    db.write(
        "INSERT INTO certificates VALUES (?,?,?,?,?) "
        "ON CONFLICT (learner_id, code_id) DO UPDATE SET "
        "record_id = excluded.record_id, completion_date = excluded.completion_date, "
        "expires_on = excluded.expires_on",
        (learner_id, code_id, newest["record_id"], newest["completion_date"], expires),
        lane=LANE,
    )


def validity_set(db: Writer, e: CodeValiditySet) -> None:
    """Store the new period and move every certificate of the code to it."""
    validity_stored(db, e)
    _expire_anew(db, e.code_id, e.new_months)


def validity_stored(db: Writer, e: CodeValiditySet) -> None:
    """Store the new period alone, leaving the certificates as they are."""
    if e.new_months is None:
        db.write("DELETE FROM code_validity WHERE code_id = ?", (e.code_id,), lane=LANE)
    else:
        db.write(
            "INSERT INTO code_validity VALUES (?, ?) "
            "ON CONFLICT (code_id) DO UPDATE SET months = excluded.months",
            (e.code_id, e.new_months),
            lane=LANE,
        )
    validity_months(db, e.code_id)
    db.memo[_MEMO][e.code_id] = e.new_months


def _expire_anew(db: Db, code_id: str, months: int | None) -> None:
    # One statement per completion date rather than per learner: two years of
    # completions are a few hundred dates however many learners hold the code.
    dates = db.execute(
        "SELECT DISTINCT completion_date FROM certificates WHERE code_id = ?",
        (code_id,),
    ).fetchall()
    db.executemany(
        "UPDATE certificates SET expires_on = ? "
        "WHERE code_id = ? AND completion_date = ?",
        [(_expires(months, row[0]), code_id, row[0]) for row in dates],
    )


def derive(db: Db) -> None:
    """Fill the empty certificates from the records and validities as they stand.

    What ``record_added``, ``refresh`` and ``validity_set`` keep event by event
    is a function of the active records and the codes' validities alone: each
    learner's newest record of each code, expiring by its code's period now.
    """
    db.execute(
        "INSERT INTO certificates "
        "SELECT learner_id, code_id, record_id, completion_date, NULL FROM ("
        "SELECT learner_id, code_id, record_id, completion_date, ROW_NUMBER() "
        "OVER (PARTITION BY learner_id, code_id "
        "ORDER BY completion_date DESC, record_id DESC) AS newness "
        "FROM training_records WHERE code_id IS NOT NULL) AS ranked "
        "WHERE newness = 1"
    )
    periods = db.execute("SELECT code_id, months FROM code_validity").fetchall()
    for code_id, months in periods:
        _expire_anew(db, code_id, months)


# Queries


@dataclass(frozen=True)
class CertificateRow:
    learner_id: str
    username: str
    email: str
    first_name: str
    last_name: str
    code_id: str
    code: str | None
    record_id: str
    completion_date: str
    expires_on: str | None


@dataclass(frozen=True)
class ExpiryFilter:
    """Which certificates the expiration report lists; None means any."""

    status: CertificateStatus | None = None
    before: date | None = None
    code_id: str | None = None
    among: tuple[str, ...] | None = None
    """Learner ids the report is limited to."""


def _conditions(
    only: ExpiryFilter, on: date, expiring_days: int
) -> tuple[str, list[object]]:
    # Mirrors domain.validity.status_on, as conditions on the stored expiry date.
    soon = (on + timedelta(days=expiring_days)).isoformat()
    today = on.isoformat()
    reach, params = one_of("c.learner_id", only.among)
    where = [reach, "c.expires_on IS NOT NULL", "c.completion_date <= ?"]
    params.append(today)
    if only.status is CertificateStatus.EXPIRED:
        where.append("c.expires_on <= ?")
        params.append(today)
    elif only.status is CertificateStatus.EXPIRING:
        where.append("c.expires_on > ? AND c.expires_on <= ?")
        params += [today, soon]
    elif only.status is CertificateStatus.VALID:
        where.append("c.expires_on > ?")
        params.append(soon)
    if only.before is not None:
        where.append("c.expires_on < ?")
        params.append(only.before.isoformat())
    if only.code_id is not None:
        where.append("c.code_id = ?")
        params.append(only.code_id)
    return " AND ".join(where), params


def expiring(
    db: Db,
    only: ExpiryFilter,
    on: date,
    expiring_days: int,
    after: tuple[str, str] | None,
    size: int,
) -> list[CertificateRow]:
    """The next ``size`` certificates that expire, soonest first, after ``after``.

    Certificates of codes without a validity period never expire and are not
    listed; neither are records completed after ``on``.
    """
    condition, params = _conditions(only, on, expiring_days)
    if after is not None:
        # A row value lets the index seek to the cursor instead of scanning to it.
        condition += " AND (c.expires_on, c.record_id) > (?, ?)"
        params += list(after)
    rows = db.execute(
        "SELECT c.learner_id, l.username, l.email, l.first_name, l.last_name, "
        "c.code_id, k.code, c.record_id, c.completion_date, c.expires_on "
        "FROM certificates c "
        "JOIN learners l ON l.learner_id = c.learner_id "
        "LEFT JOIN codes k ON k.code_id = c.code_id "
        f"WHERE {condition} ORDER BY c.expires_on, c.record_id LIMIT ?",
        [*params, size],
    )
    return [CertificateRow(**row) for row in rows]


def expiry_page(
    db: Db,
    only: ExpiryFilter,
    on: date,
    expiring_days: int,
    first: int,
    after: str | None,
) -> Page[CertificateRow]:
    """A page of the Certificate Expiration report as it stands on ``on``."""
    condition, params = _conditions(only, on, expiring_days)
    count = db.execute(
        f"SELECT COUNT(*) FROM certificates c WHERE {condition}", params
    ).fetchone()[0]
    key = None
    if after is not None:
        expires_on, record_id = decode_cursor(after, "certificate", parts=2)
        key = (expires_on, record_id)

    rows = expiring(db, only, on, expiring_days, key, first + 1)
    items = rows[:first]
    return Page(
        items=items,
        total_count=count,
        has_next_page=len(rows) > first,
        has_previous_page=after is not None,
        cursors=[
            encode_cursor("certificate", r.expires_on or "", r.record_id) for r in items
        ],
    )


def held_on(db: Db, learner_id: str, code_id: str, on: date) -> CertificateRow | None:
    """The learner's newest record of a code completed by ``on``, as a certificate.

    Read from the records rather than the certificates: on a past day the
    certificate may be an older record than today's.
    """
    row = db.execute(
        "SELECT r.learner_id, l.username, l.email, l.first_name, l.last_name, "
        "r.code_id, k.code, r.record_id, r.completion_date, NULL AS expires_on "
        "FROM training_records r "
        "JOIN learners l ON l.learner_id = r.learner_id "
        "LEFT JOIN codes k ON k.code_id = r.code_id "
        "WHERE r.learner_id = ? AND r.code_id = ? AND r.completion_date <= ? "
        "ORDER BY r.completion_date DESC, r.record_id DESC LIMIT 1",
        (learner_id, code_id, on.isoformat()),
    ).fetchone()
    if row is None:
        return None
    months = months_of(db, [code_id]).get(code_id)
    found = CertificateRow(**row)
    return replace(found, expires_on=_expires(months, found.completion_date))


def completions_of(db: Db, code_id: str) -> Iterable[tuple[date, int]]:
    """How many certificates of a code were completed on each date."""
    rows = db.execute(
        "SELECT completion_date, COUNT(*) FROM certificates WHERE code_id = ? "
        "GROUP BY completion_date",
        (code_id,),
    )
    return [(date.fromisoformat(row[0]), int(row[1])) for row in rows]


def months_of(db: Db, code_ids: Iterable[str]) -> dict[str, int]:
    """The validity of each code that has one."""
    unique = list(dict.fromkeys(code_ids))
    if not unique:
        return {}
    rows = db.execute(
        "SELECT code_id, months FROM code_validity "
        f"WHERE code_id IN ({','.join('?' * len(unique))})",
        unique,
    )
    return {row[0]: int(row[1]) for row in rows}
