"""The code list and the code-usage index (the admin page's "Used In" column).

Everything else refers to a code by its id, so a rename changes one row here and
every read model that shows the code shows the new name at once.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from domain import codes as ev
from domain.content import ContentCreated
from domain.events import Event
from domain.paths import PathCreated, PathStepsSet
from domain.validity import CodeValiditySet
from projections.database import Db, Writer
from projections.paging import Page, decode_cursor, encode_cursor, like_pattern
from projections.projection import Apply, Projection


@dataclass(frozen=True)
class CodeRow:
    code_id: str
    code: str
    description: str
    created_at: str
    active_record_count: int
    validity_months: int | None


@dataclass(frozen=True)
class ValidityChangeRow:
    code_id: str
    changed_at: str
    changed_by: str
    old_months: int | None
    new_months: int | None


@dataclass(frozen=True)
class Use:
    code_id: str
    kind: str
    owner_id: str
    path_id: str
    title: str


@dataclass(frozen=True)
class NameRow:
    name: str
    code_id: str | None
    renamed_to: str | None


class CodeUsage(Projection):
    """Codes, what uses each, and how many active records carry it."""

    name = "code_usage"
    version = 2
    tables = ("codes", "code_uses", "use_titles", "code_names", "validity_changes")
    schema = (
        """CREATE TABLE codes (
            code_id TEXT PRIMARY KEY,
            code TEXT NOT NULL,
            description TEXT NOT NULL,
            created_at TEXT NOT NULL,
            deleted_at TEXT,
            active_record_count INTEGER NOT NULL DEFAULT 0,
            validity_months INTEGER
        )""",
        """CREATE TABLE code_uses (
            code_id TEXT NOT NULL,
            owner_id TEXT NOT NULL,
            kind TEXT NOT NULL,
            path_id TEXT NOT NULL,
            PRIMARY KEY (code_id, owner_id)
        )""",
        """CREATE TABLE use_titles (
            owner_id TEXT PRIMARY KEY,
            title TEXT NOT NULL
        )""",
        """CREATE TABLE code_names (
            name TEXT PRIMARY KEY,
            code_id TEXT,
            renamed_to TEXT
        )""",
        """CREATE TABLE validity_changes (
            code_id TEXT NOT NULL,
            version INTEGER NOT NULL,
            changed_at TEXT NOT NULL,
            changed_by TEXT NOT NULL,
            old_months INTEGER,
            new_months INTEGER,
            PRIMARY KEY (code_id, version)
        )""",
    )
    read_indexes = ("CREATE INDEX codes_live ON codes (code) WHERE deleted_at IS NULL",)

    def handlers(self) -> Mapping[type[Event], Apply]:
        return {
            ev.CodeCreated: _created,
            ev.CodeDescriptionUpdated: _described,
            ev.CodeRenamed: _renamed,
            ev.CodeDeleted: _deleted,
            ev.CodeAttached: _attached,
            ev.CodeDetached: _detached,
            ev.CodeRecordsAdded: _records_added,
            ev.CodeRecordsRemoved: _records_removed,
            ev.CodeNameClaimed: _name_claimed,
            ev.CodeNameReleased: _name_released,
            CodeValiditySet: _validity_set,
            ContentCreated: _content_titled,
            PathCreated: _path_titled,
            PathStepsSet: _steps_titled,
        }


def _created(db: Writer, e: ev.CodeCreated) -> None:
    db.write(
        "INSERT INTO codes (code_id, code, description, created_at) VALUES (?,?,?,?)",
        (db.aggregate_id, e.code, e.description, db.occurred_at),
    )


def _described(db: Writer, e: ev.CodeDescriptionUpdated) -> None:
    db.write(
        "UPDATE codes SET description = ? WHERE code_id = ?",
        (e.description, db.aggregate_id),
    )


def _renamed(db: Writer, e: ev.CodeRenamed) -> None:
    db.write(
        "UPDATE codes SET code = ? WHERE code_id = ?",
        (e.new_code, db.aggregate_id),
    )


def _deleted(db: Writer, e: ev.CodeDeleted) -> None:
    db.write(
        "UPDATE codes SET deleted_at = ? WHERE code_id = ?",
        (db.occurred_at, db.aggregate_id),
    )


def _attached(db: Writer, e: ev.CodeAttached) -> None:
    db.write(
        "INSERT INTO code_uses VALUES (?,?,?,?) ON CONFLICT (code_id, owner_id) "
        "DO UPDATE SET kind = excluded.kind, path_id = excluded.path_id",
        (db.aggregate_id, e.owner_id, e.kind, e.container_id),
    )


def _detached(db: Writer, e: ev.CodeDetached) -> None:
    db.write(
        "DELETE FROM code_uses WHERE code_id = ? AND owner_id = ?",
        (db.aggregate_id, e.owner_id),
    )


def _records_added(db: Writer, e: ev.CodeRecordsAdded) -> None:
    db.write(
        "UPDATE codes SET active_record_count = active_record_count + ? "
        "WHERE code_id = ?",
        (e.count, db.aggregate_id),
    )


def _records_removed(db: Writer, e: ev.CodeRecordsRemoved) -> None:
    db.write(
        "UPDATE codes SET active_record_count = active_record_count - ? "
        "WHERE code_id = ?",
        (e.count, db.aggregate_id),
    )


def _validity_set(db: Writer, e: CodeValiditySet) -> None:
    db.write(
        "UPDATE codes SET validity_months = ? WHERE code_id = ?",
        (e.new_months, e.code_id),
    )
    db.write(
        "INSERT INTO validity_changes VALUES (?,?,?,?,?,?)",
        (
            e.code_id,
            e.originator_version,
            db.occurred_at,
            e.actor,
            e.old_months,
            e.new_months,
        ),
    )


def _name_claimed(db: Writer, e: ev.CodeNameClaimed) -> None:
    _name(db, e.name, e.code_id, None)


def _name_released(db: Writer, e: ev.CodeNameReleased) -> None:
    _name(db, e.name, None, e.renamed_to)


def _name(db: Writer, name: str, code_id: str | None, renamed_to: str | None) -> None:
    db.write(
        "INSERT INTO code_names VALUES (?, ?, ?) ON CONFLICT (name) DO UPDATE "
        "SET code_id = excluded.code_id, renamed_to = excluded.renamed_to",
        (name, code_id, renamed_to),
    )


def _content_titled(db: Writer, e: ContentCreated) -> None:
    _title(db, db.aggregate_id, e.title)


def _path_titled(db: Writer, e: PathCreated) -> None:
    _title(db, db.aggregate_id, e.title)


def _steps_titled(db: Writer, e: PathStepsSet) -> None:
    for step in e.steps:
        _title(db, step["step_id"], step["title"])


def _title(db: Writer, owner_id: str, title: str) -> None:
    db.write(
        "INSERT INTO use_titles VALUES (?, ?) "
        "ON CONFLICT (owner_id) DO UPDATE SET title = excluded.title",
        (owner_id, title),
    )


# Queries

_CODE_COLUMNS = (
    "code_id, code, description, created_at, active_record_count, validity_months"
)


def code_page(
    db: Db, search: str | None, first: int, after: str | None
) -> Page[CodeRow]:
    """Live codes in name order, ``first`` after the cursor, matching ``search``."""
    where = ["deleted_at IS NULL"]
    params: list[object] = []
    if search:
        where.append(
            "(code LIKE UPPER(?) ESCAPE '!' OR LOWER(description) LIKE ? ESCAPE '!')"
        )
        pattern = like_pattern(search)
        params += [pattern, pattern]
    condition = " AND ".join(where)
    total = db.execute(f"SELECT COUNT(*) FROM codes WHERE {condition}", params)

    count = total.fetchone()[0]
    if after is not None:
        condition += " AND code > ?"
        params += decode_cursor(after, "code")
    rows = db.execute(
        f"SELECT {_CODE_COLUMNS} FROM codes WHERE {condition} ORDER BY code LIMIT ?",
        [*params, first + 1],
    ).fetchall()

    items = [CodeRow(**row) for row in rows[:first]]
    return Page(
        items=items,
        total_count=count,
        has_next_page=len(rows) > first,
        has_previous_page=after is not None,
        cursors=[encode_cursor("code", item.code) for item in items],
    )


def live_code(db: Db, code: str) -> CodeRow | None:
    """The live code of that name."""
    row = db.execute(
        f"SELECT {_CODE_COLUMNS} FROM codes WHERE code = ? AND deleted_at IS NULL",
        (code,),
    ).fetchone()
    return CodeRow(**row) if row else None


def deleted_codes_named(db: Db, code: str) -> list[str]:
    """The ids of the deleted codes last called ``code``, oldest first."""
    rows = db.execute(
        "SELECT code_id FROM codes WHERE code = ? AND deleted_at IS NOT NULL "
        "ORDER BY created_at, code_id",
        (code,),
    )
    return [row[0] for row in rows]


def codes_by_id(db: Db, code_ids: Sequence[str]) -> dict[str, CodeRow]:
    """Codes (live or deleted) by id, for showing a code's current name."""
    found: dict[str, CodeRow] = {}
    for chunk in _chunks(code_ids):
        marks = ",".join("?" * len(chunk))
        for row in db.execute(
            f"SELECT {_CODE_COLUMNS} FROM codes WHERE code_id IN ({marks})", chunk
        ):
            found[row["code_id"]] = CodeRow(**row)
    return found


def uses_of(db: Db, code_ids: Sequence[str]) -> dict[str, list[Use]]:
    """What uses each code: content first, then paths, then steps."""
    found: dict[str, list[Use]] = {code_id: [] for code_id in code_ids}
    for chunk in _chunks(code_ids):
        marks = ",".join("?" * len(chunk))
        rows = db.execute(
            "SELECT u.code_id, u.kind, u.owner_id, u.path_id, "
            "COALESCE(t.title, '') AS title FROM code_uses u "
            "LEFT JOIN use_titles t ON t.owner_id = u.owner_id "
            f"WHERE u.code_id IN ({marks}) ORDER BY u.code_id, "
            "CASE u.kind WHEN 'LEARNING_PATH' THEN 1 WHEN 'LEARNING_STEP' THEN 2 "
            "ELSE 0 END, title, u.owner_id",
            chunk,
        )
        for row in rows:
            found[row["code_id"]].append(Use(**row))
    return found


def validity_changes(
    db: Db, code_ids: Sequence[str]
) -> dict[str, list[ValidityChangeRow]]:
    """Every change of each code's validity, oldest first."""
    found: dict[str, list[ValidityChangeRow]] = {code_id: [] for code_id in code_ids}
    for chunk in _chunks(code_ids):
        marks = ",".join("?" * len(chunk))
        rows = db.execute(
            "SELECT code_id, changed_at, changed_by, old_months, new_months "
            f"FROM validity_changes WHERE code_id IN ({marks}) "
            "ORDER BY code_id, version",
            chunk,
        )
        for row in rows:
            found[row["code_id"]].append(ValidityChangeRow(**row))
    return found


def name_history(db: Db, name: str) -> NameRow | None:
    """Who holds a name now, or where it went."""
    row = db.execute("SELECT * FROM code_names WHERE name = ?", (name,)).fetchone()
    return NameRow(**row) if row else None


def code_named(db: Db, name: str) -> CodeRow | None:
    """The live code called ``name``, or the one a rename took that name to.

    Reads follow a rename, so a bookmark or a saved filter keeps working;
    commands refuse an old name instead, saying where it went.
    """
    return live_code(db, name) or renamed_code(db, name)


def renamed_code(db: Db, name: str) -> CodeRow | None:
    """The live code a name was renamed to, through any chain of renames."""
    seen = {name}
    found = name_history(db, name)
    while found is not None and found.renamed_to and found.renamed_to not in seen:
        seen.add(found.renamed_to)
        live = live_code(db, found.renamed_to)
        if live is not None:
            return live
        found = name_history(db, found.renamed_to)
    return None


def _chunks(values: Sequence[str], size: int = 500) -> list[list[str]]:
    # SQLite caps the number of bound parameters in one statement.
    unique = list(dict.fromkeys(values))
    return [unique[i : i + size] for i in range(0, len(unique), size)]
