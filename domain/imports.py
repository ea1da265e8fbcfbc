"""Reading a training-records CSV file: bytes in, checked rows or reasons out.

Spreadsheets write these files, so every cell is checked and nothing is guessed:
a date is YYYY-MM-DD or it is refused, ``Delete?`` is empty or ``T`` or it is
refused. This module knows nothing of the store; the import command checks the
rows against it.
"""

from __future__ import annotations

import csv
import hashlib
import io
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import date, datetime
from enum import StrEnum
from operator import itemgetter
from typing import NamedTuple, TypeVar
from uuid import UUID

from domain.codes import normalise_code
from domain.content import check_text, check_title
from domain.errors import InvalidInput, QualifyError
from domain.events import Aggregate, Event
from domain.learners import RecordType, normalise_username

T = TypeVar("T")

RECORD_ID = "Record Id"
NAME = "Name"
RECORD_TYPE = "Record Type"
OBJECT_ID = "Object Id"
TITLE = "Title"
PROVIDER = "Training Provider"
COMPLETION_DATE = "Completion Date"
OTHER = "Other Information"
CODE = "Qualification Code"
DELETE = "Delete?"

IMPORT_HEADINGS = (
    RECORD_ID,
    NAME,
    RECORD_TYPE,
    OBJECT_ID,
    TITLE,
    PROVIDER,
    COMPLETION_DATE,
    OTHER,
    CODE,
    DELETE,
)
EXPORT_ONLY_HEADINGS = ("Email", "Firstname", "Lastname")
EXPORT_HEADINGS = (
    RECORD_ID,
    NAME,
    *EXPORT_ONLY_HEADINGS,
    *IMPORT_HEADINGS[2:],
)
RECORD_TYPE_LABELS = {
    RecordType.TRAINING_RECORD: "Training Record",
    RecordType.COURSE: "Course",
    RecordType.QUIZ: "Quiz",
    RecordType.TRAINING_EVENT: "Training Event",
    RecordType.LEARNING_PATH: "Learning Path",
}
_TYPES_BY_LABEL = {label.lower(): kind for kind, label in RECORD_TYPE_LABELS.items()}
_DATE = re.compile(r"\d{4}-\d{2}-\d{2}", re.ASCII)
_SLASHED = re.compile(r"\d{1,2}[/.-]\d{1,2}[/.-]\d{2,4}", re.ASCII)
# A spreadsheet runs a cell starting with one of these as a formula.
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


class ImportRefused(QualifyError):
    """The file as a whole cannot be read: wrong encoding, headings, or size."""

    code = "IMPORT_REFUSED"


# A report shows this much of a bad cell: enough to find it in the sheet, and a
# file of a few huge cells still gives a report of a readable size.
SHOWN_CHARACTERS = 200


@dataclass(frozen=True)
class Problem:
    """Why one cell (or one row) cannot be imported."""

    row: int
    column: str | None
    value: str
    reason: str

    def __post_init__(self) -> None:
        if len(self.value) > SHOWN_CHARACTERS:
            shown = (
                f"{self.value[:SHOWN_CHARACTERS]}… "
                f"({len(self.value):,} characters in all)"
            )
            object.__setattr__(self, "value", shown)


class Row(NamedTuple):
    """One data row, every cell checked on its own.

    A tuple, not a dataclass: a file makes one per row, and a frozen dataclass
    costs twice as much to build.
    """

    number: int
    record_id: str | None
    username: str
    record_type: RecordType
    object_id: str | None
    title: str
    training_provider: str
    completion_date: date
    other_information: str
    code: str | None
    delete: bool


@dataclass
class ParsedFile:
    """The rows that read cleanly, the problems of those that did not, and notes."""

    checksum: str
    rows: list[Row] = field(default_factory=list)
    problems: list[Problem] = field(default_factory=list)
    ignored_columns: list[str] = field(default_factory=list)
    blank_rows: list[int] = field(default_factory=list)


def _looks_like_formula(cell: str) -> bool:
    # Apostrophes first count too: "'=x" must survive the round trip as well.
    return cell.lstrip("'").startswith(FORMULA_STARTS)


def neutralise(cell: str) -> str:
    """A cell as written to a CSV file: never something a spreadsheet would run."""
    return "'" + cell if _looks_like_formula(cell) else cell


def unneutralise(cell: str) -> str:
    """Undo ``neutralise``, so a re-imported export does not pile up quote marks."""
    if cell.startswith("'") and _looks_like_formula(cell):
        return cell[1:]
    return cell


def read_file(
    data: bytes,
    today: date,
    progress: Callable[[int], None] | None = None,
) -> ParsedFile:
    """Check a whole file; refused outright only when it cannot be read at all."""
    parsed = ParsedFile(checksum=hashlib.sha256(data).hexdigest())
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as error:
        raise ImportRefused(
            f"The file is not UTF-8 text: byte {error.start} (counting from 0) "
            f"is 0x{data[error.start]:02X}. Save it as CSV UTF-8 and try again."
        ) from None
    text = text.removeprefix("\ufeff")

    records = _records(text)
    headings = next(records, None)
    if headings is None:
        raise ImportRefused("The file is empty; it needs the headings row at least.")
    columns = _columns(headings[1], parsed)

    unnamed = [i for i, name in enumerate(headings[1]) if not name.strip()]
    names = tuple(columns)
    pick = itemgetter(*columns.values())
    ids: dict[str, list[tuple[int, str]]] = {}
    for number, cells in records:
        line = "".join(cells)
        if not line.strip():
            parsed.blank_rows.append(number)
            continue
        if len(cells) != len(headings[1]):
            parsed.problems.append(
                Problem(
                    number,
                    None,
                    "",
                    f"The row has {len(cells)} cells; the headings have "
                    f"{len(headings[1])}",
                )
            )
            continue
        stray = [
            Problem(
                number,
                None,
                cells[index],
                f"Column {index + 1} has a value but no heading",
            )
            for index in unnamed
            if cells[index].strip()
        ]
        parsed.problems += stray
        values = dict(zip(names, pick(cells), strict=True))
        if "\r" in line or "'" in line:
            # A line break inside a quoted cell reads as one, however it was
            # written, and an exported formula loses its guard mark. Most rows
            # hold neither a CR nor an apostrophe anywhere and skip this step.
            values = {
                name: unneutralise(cell.replace("\r\n", "\n"))
                for name, cell in values.items()
            }
        cell = values[RECORD_ID]
        ids.setdefault(_id_key(cell), []).append((number, cell))
        # The named cells of a row with a stray value are still checked, so that
        # every problem of the row is reported at once; the row itself is not read.
        row = _row(number, values, today, parsed.problems)
        if row is not None and not stray:
            parsed.rows.append(row)
        if progress is not None:
            progress(number)

    _refuse_repeated_ids(parsed, ids)
    return parsed


def _id_key(cell: str) -> str:
    text = cell.strip()
    if text in ("", "0"):
        return ""
    try:
        return str(UUID(text))
    except ValueError:
        return text


def _records(text: str) -> Iterator[tuple[int, list[str]]]:
    # The row number a person sees: the headings are row 1. A quoted cell may
    # hold line breaks, so rows are counted, not lines.
    # A cell may be as long as the file (whose size is limited before it gets
    # here): one too long for a column is that row's error, with the rest of
    # the file still checked, not a refusal of the whole file. The csv module's
    # limit is the process's; it is only ever raised.
    csv.field_size_limit(max(csv.field_size_limit(), len(text)))
    reader = csv.reader(io.StringIO(text, newline=""), strict=True)
    number = 0
    try:
        for cells in reader:
            number += 1
            yield number, cells
    except csv.Error as error:
        raise ImportRefused(
            f"The file is not valid CSV near line {reader.line_num}: {error}."
        ) from None


def _columns(headings: list[str], parsed: ParsedFile) -> dict[str, int]:
    wanted = {name.lower(): name for name in IMPORT_HEADINGS}
    ignored = {name.lower(): name for name in EXPORT_ONLY_HEADINGS}
    columns: dict[str, int] = {}

    for index, raw in enumerate(headings):
        key = raw.strip().removeprefix("\ufeff").strip().lower()
        if not key:
            # Spreadsheets add unnamed columns; their cells must stay empty.
            continue
        if key in ignored:
            parsed.ignored_columns.append(ignored[key])
            continue
        if key not in wanted:
            raise ImportRefused(
                f"The heading {raw.strip()!r} (column {index + 1}) is not one this "
                f"import reads; the headings are: {', '.join(IMPORT_HEADINGS)}."
            )
        name = wanted[key]
        if name in columns:
            raise ImportRefused(f"The heading {name!r} appears twice.")
        columns[name] = index

    missing = [name for name in IMPORT_HEADINGS if name not in columns]
    if missing:
        raise ImportRefused(
            f"The file lacks the heading{'s' if len(missing) > 1 else ''} "
            f"{', '.join(repr(name) for name in missing)}."
        )
    return columns


def _row(
    number: int, values: dict[str, str], today: date, problems: list[Problem]
) -> Row | None:
    try:
        return _read_row(number, values, today)
    except InvalidInput:
        return _checked_row(number, values, today, problems)


def _read_row(number: int, values: dict[str, str], today: date) -> Row:
    """The row, if every cell reads; the first cell that does not raises.

    Most rows of most files read: this path spares them the bookkeeping of
    ``_checked_row``, which then reads a row that raised here again, cell by
    cell, to report every problem it has. Both call the same readers.
    """
    record_id = _record_id(values[RECORD_ID])
    record_type = _record_type(values[RECORD_TYPE])
    delete = _delete(values[DELETE])
    if delete and record_id is None:
        raise InvalidInput(_DELETE_NEEDS_ID)
    return Row(
        number,
        record_id,
        normalise_username(values[NAME]),
        record_type,
        _object_id(values[OBJECT_ID], record_type),
        check_title(values[TITLE]),
        check_text(values[PROVIDER], PROVIDER),
        _completion_date(values[COMPLETION_DATE], today),
        check_text(values[OTHER], OTHER),
        _code(values[CODE]),
        delete,
    )


def _checked_row(
    number: int, values: dict[str, str], today: date, problems: list[Problem]
) -> Row | None:
    found: list[Problem] = []

    def check(column: str, read: Callable[[str], T]) -> T | None:
        value = values[column]
        try:
            return read(value)
        except InvalidInput as error:
            found.append(Problem(number, column, value, _sentence(error.message)))
            return None

    record_id = check(RECORD_ID, _record_id)
    username = check(NAME, normalise_username)
    record_type = check(RECORD_TYPE, _record_type)
    title = check(TITLE, check_title)
    provider = check(PROVIDER, lambda v: check_text(v, PROVIDER))
    completed = check(COMPLETION_DATE, lambda v: _completion_date(v, today))
    other = check(OTHER, lambda v: check_text(v, OTHER))
    code = check(CODE, _code)
    delete = check(DELETE, _delete)
    object_id = None
    if isinstance(record_type, RecordType):
        object_id = check(OBJECT_ID, lambda v: _object_id(v, record_type))
    if delete is True and record_id is None and not found:
        found.append(Problem(number, DELETE, values[DELETE], _DELETE_NEEDS_ID))

    if found:
        problems.extend(found)
        return None
    # With no problem found, every checked cell that must have a value has one.
    assert username is not None
    assert record_type is not None
    assert completed is not None
    return Row(
        number=number,
        record_id=record_id,
        username=username,
        record_type=record_type,
        object_id=object_id,
        title=title or "",
        training_provider=provider or "",
        completion_date=completed,
        other_information=other or "",
        code=code,
        delete=bool(delete),
    )


_DELETE_NEEDS_ID = "Deleting needs the Record Id"


def _code(value: str) -> str | None:
    return normalise_code(value) if value.strip() else None


def _sentence(message: str) -> str:
    return message.rstrip(".")


def _record_id(value: str) -> str | None:
    text = value.strip()
    if text in ("", "0"):
        return None
    try:
        return str(UUID(text))
    except ValueError:
        raise InvalidInput(
            "A Record Id is empty or 0 for a new record, or the id of an existing one"
        ) from None


def _record_type(value: str) -> RecordType:
    kind = _TYPES_BY_LABEL.get(value.strip().lower())
    if kind is None:
        labels = ", ".join(RECORD_TYPE_LABELS.values())
        raise InvalidInput(f"The Record Type must be one of {labels}")
    return kind


def _object_id(value: str, record_type: RecordType) -> str | None:
    text = value.strip()
    if record_type is RecordType.TRAINING_RECORD:
        if text not in ("", "0"):
            raise InvalidInput("A Training Record's Object Id is 0")
        return None
    try:
        return str(UUID(text))
    except ValueError:
        label = RECORD_TYPE_LABELS[record_type]
        raise InvalidInput(f"A {label} row needs the id of that {label}") from None


def _completion_date(value: str, today: date) -> date:
    text = value.strip()
    if not _DATE.fullmatch(text):
        if _ambiguous(text):
            raise InvalidInput(
                f"The Completion Date must be written YYYY-MM-DD: {text} could be "
                "day/month or month/day"
            )
        raise InvalidInput("The Completion Date must be written YYYY-MM-DD")
    try:
        day = date.fromisoformat(text)
    except ValueError:
        raise InvalidInput("There is no such day in the calendar") from None
    if day > today:
        raise InvalidInput("The Completion Date is in the future")
    if day.year < 1900:
        raise InvalidInput("The Completion Date is before 1900")
    return day


def _ambiguous(text: str) -> bool:
    # 03/04/2023 reads as March or April; 14/09/2023 and 04/04/2023 read one way.
    if not _SLASHED.fullmatch(text):
        return False
    first, second = (int(part) for part in re.split(r"[/.-]", text)[:2])
    return first != second and 1 <= first <= 12 and 1 <= second <= 12


def _delete(value: str) -> bool:
    text = value.strip().upper()
    if text not in ("", "T"):
        raise InvalidInput(
            "Delete? is empty to keep the row's record, or T to delete it"
        )
    return text == "T"


def _refuse_repeated_ids(
    parsed: ParsedFile, ids: dict[str, list[tuple[int, str]]]
) -> None:
    # Two rows naming one record cannot both be right, so neither is applied,
    # whatever else is wrong with either of them. Each row's problem shows its
    # own cell: the id may be written differently on each.
    repeated: set[int] = set()
    for record_id, rows in ids.items():
        if not record_id or len(rows) < 2:
            continue
        listed = ", ".join(str(number) for number, _ in rows)
        for number, cell in rows:
            parsed.problems.append(
                Problem(
                    number, RECORD_ID, cell, f"The same Record Id is on rows {listed}"
                )
            )
            repeated.add(number)
    if repeated:
        parsed.rows = [row for row in parsed.rows if row.number not in repeated]


class Action(StrEnum):
    """What an import did, or would do, with one row."""

    CREATED = "CREATED"
    UPDATED = "UPDATED"
    DELETED = "DELETED"
    UNCHANGED = "UNCHANGED"
    DUPLICATE = "DUPLICATE"


@dataclass(frozen=True)
class RowOutcome:
    """One row's fate: its action and the record it concerns."""

    row: int
    action: Action
    record_id: str


@dataclass(frozen=True)
class ImportReport:
    """The same document for a dry run and a real import of the same file."""

    import_id: str | None
    file_name: str
    checksum: str
    dry_run: bool
    rows: list[RowOutcome]
    problems: list[Problem]
    ignored_columns: list[str]
    blank_rows: list[int]

    @property
    def changes(self) -> int:
        """Rows that create, update or delete a record."""
        return sum(
            1
            for row in self.rows
            if row.action in (Action.CREATED, Action.UPDATED, Action.DELETED)
        )

    @property
    def applied(self) -> bool:
        """Whether anything was written (and then the whole file, never half)."""
        return not self.dry_run and not self.problems and self.changes > 0

    def count(self, action: Action) -> int:
        """How many rows had ``action``."""
        return sum(1 for row in self.rows if row.action is action)


class ImportRejected(QualifyError):
    """Some rows cannot be imported, so none are: the report lists every one."""

    code = "IMPORT_REJECTED"

    def __init__(self, report: ImportReport) -> None:
        count = len(report.problems)
        super().__init__(
            f"{count} problem{'s' if count != 1 else ''} in {report.file_name}; "
            "nothing was imported. Fix the rows listed and import the file again.",
            field="file",
        )
        self.report = report


class RecordImport(Aggregate):
    """One applied import: which file, and what it did."""

    TOPIC = "qualify:RecordImport"

    def __init__(self, id: UUID, created_on: datetime, event: RecordsImported) -> None:
        super().__init__(id, created_on)
        self.file_name = event.file_name
        self.checksum = event.checksum


class RecordsImported(Event):
    TOPIC = "qualify:RecordsImported"
    file_name: str
    checksum: str
    created: int
    updated: int
    deleted: int
    unchanged: int
    duplicates: int

    def create(self) -> RecordImport:
        return RecordImport(self.originator_id, self.timestamp, self)

    def apply(self, aggregate: RecordImport) -> None:
        pass
