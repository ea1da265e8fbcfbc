"""Reading a training-records CSV file: bytes in, checked rows or reasons out.

Pure and fast: no store. What the rows mean against the store is in
``test_import_rules.py``.
"""

from __future__ import annotations

import csv
import hashlib
import io
from datetime import date

import pytest

from domain.imports import (
    CODE,
    COMPLETION_DATE,
    DELETE,
    EXPORT_HEADINGS,
    FORMULA_STARTS,
    IMPORT_HEADINGS,
    NAME,
    OBJECT_ID,
    OTHER,
    PROVIDER,
    RECORD_ID,
    RECORD_TYPE,
    TITLE,
    ImportRefused,
    ParsedFile,
    Problem,
    Row,
    neutralise,
    read_file,
    unneutralise,
)
from domain.learners import RecordType

TODAY = date(2024, 1, 15)
RID = "5b1e3f0a-8c3d-4f4e-9a6b-2d7c1e0f9a11"
OTHER_RID = "0d6c4a2e-1f3b-4c5d-8e7f-9a0b1c2d3e4f"
OBJECT = "9f8e7d6c-5b4a-4392-8170-6f5e4d3c2b1a"
BOM = b"\xef\xbb\xbf"

GOOD = {
    RECORD_ID: "",
    NAME: "alice",
    RECORD_TYPE: "Training Record",
    OBJECT_ID: "0",
    TITLE: "First aid",
    PROVIDER: "Red Cross",
    COMPLETION_DATE: "2023-07-20",
    OTHER: "",
    CODE: "CPR",
    DELETE: "",
}
HEADER_LINE = (
    "Record Id,Name,Record Type,Object Id,Title,Training Provider,Completion Date,"
    "Other Information,Qualification Code,Delete?"
)
GOOD_LINE = ",alice,Training Record,0,First aid,Red Cross,2023-07-20,,CPR,"
WHOLE_DATE_REASON = (
    "The Completion Date must be written YYYY-MM-DD: 03/04/2023 could be "
    "day/month or month/day"
)
PLAIN_DATE_REASON = "The Completion Date must be written YYYY-MM-DD"
DELETE_REASON = "Delete? is empty to keep the row's record, or T to delete it"


def cells(changes: dict[str, str] | None = None) -> dict[str, str]:
    """The good row's cells by heading, with ``changes``."""
    return {**GOOD, **(changes or {})}


def csv_bytes(
    *rows: dict[str, str] | list[str],
    headings: tuple[str, ...] | list[str] = IMPORT_HEADINGS,
    line_end: str = "\r\n",
) -> bytes:
    """A file as a spreadsheet saves it: the headings, then one line per row."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator=line_end)
    writer.writerow(headings)
    for row in rows:
        if isinstance(row, dict):
            writer.writerow([row.get(heading, "") for heading in headings])
        else:
            writer.writerow(row)
    return buffer.getvalue().encode("utf-8")


def good_row(number: int = 2, **fields: object) -> Row:
    """The good row as read, with ``fields`` changed."""
    values: dict[str, object] = {
        "number": number,
        "record_id": None,
        "username": "alice",
        "record_type": RecordType.TRAINING_RECORD,
        "object_id": None,
        "title": "First aid",
        "training_provider": "Red Cross",
        "completion_date": date(2023, 7, 20),
        "other_information": "",
        "code": "CPR",
        "delete": False,
    }
    values.update(fields)
    return Row(**values)


def read(data: bytes) -> ParsedFile:
    return read_file(data, TODAY)


def problems_of(*rows: dict[str, str]) -> list[Problem]:
    """The problems of a file with ``rows``; none of those rows may read cleanly."""
    parsed = read(csv_bytes(*rows))
    assert parsed.rows == []
    return parsed.problems


def problems_of_bytes(data: bytes) -> list[Problem]:
    parsed = read(data)
    assert parsed.rows == []
    return parsed.problems


def refusal(data: bytes) -> str:
    with pytest.raises(ImportRefused) as refused:
        read(data)
    assert refused.value.code == "IMPORT_REFUSED"
    return refused.value.message


# A clean file


def test_a_clean_row_reads_into_every_field() -> None:
    parsed = read(csv_bytes(cells()))

    assert parsed.rows == [good_row()]
    assert parsed.problems == []
    assert parsed.ignored_columns == []
    assert parsed.blank_rows == []


def test_cells_are_trimmed_and_names_and_codes_normalised() -> None:
    row = cells(
        {
            RECORD_ID: f" {RID.upper()} ",
            NAME: " Alice ",
            RECORD_TYPE: " training record ",
            OBJECT_ID: " 0 ",
            TITLE: "  First aid  ",
            PROVIDER: " Red Cross ",
            COMPLETION_DATE: " 2023-07-20 ",
            OTHER: " kept ",
            CODE: " cpr ",
        }
    )

    parsed = read(csv_bytes(row))

    assert parsed.rows == [good_row(record_id=RID, other_information="kept")]


def test_the_checksum_is_the_sha256_of_the_bytes_as_sent() -> None:
    data = BOM + csv_bytes(cells())

    assert read(data).checksum == hashlib.sha256(data).hexdigest()


def test_every_row_number_is_reported_to_the_progress_callback() -> None:
    seen: list[int] = []

    read_file(csv_bytes(cells(), cells(), cells()), TODAY, seen.append)

    assert seen == [2, 3, 4]


# Headings


def test_headings_match_ignoring_case_and_surrounding_spaces() -> None:
    headings = [f"  {heading.upper()} " for heading in IMPORT_HEADINGS]

    parsed = read(csv_bytes(list(GOOD.values()), headings=headings))

    assert parsed.rows == [good_row()]


def test_headings_may_come_in_any_order() -> None:
    headings = tuple(reversed(IMPORT_HEADINGS))

    parsed = read(csv_bytes(cells(), headings=headings))

    assert parsed.rows == [good_row()]


def test_a_missing_heading_is_refused_naming_it() -> None:
    headings = tuple(h for h in IMPORT_HEADINGS if h != DELETE)

    message = refusal(csv_bytes(cells(), headings=headings))

    assert message == "The file lacks the heading 'Delete?'."


def test_several_missing_headings_are_refused_naming_each() -> None:
    headings = tuple(h for h in IMPORT_HEADINGS if h not in (TITLE, CODE))

    message = refusal(csv_bytes(cells(), headings=headings))

    assert message == "The file lacks the headings 'Title', 'Qualification Code'."


def test_an_unknown_heading_is_refused_naming_it_and_its_column() -> None:
    headings = (*IMPORT_HEADINGS, " Colour ")

    message = refusal(csv_bytes(cells(), headings=headings))

    assert message == (
        "The heading 'Colour' (column 11) is not one this import reads; the "
        "headings are: Record Id, Name, Record Type, Object Id, Title, Training "
        "Provider, Completion Date, Other Information, Qualification Code, Delete?."
    )


def test_a_heading_given_twice_is_refused() -> None:
    headings = (*IMPORT_HEADINGS, "title")

    message = refusal(csv_bytes(cells(), headings=headings))

    assert message == "The heading 'Title' appears twice."


def test_the_exports_email_firstname_lastname_are_ignored_and_listed() -> None:
    row = {**cells(), "Email": "x", "Firstname": "=evil()", "Lastname": ""}

    parsed = read(csv_bytes(row, headings=EXPORT_HEADINGS))

    assert parsed.rows == [good_row()]
    assert parsed.problems == []
    assert parsed.ignored_columns == ["Email", "Firstname", "Lastname"]


def test_ignored_columns_match_ignoring_case_and_are_listed_by_their_own_name() -> None:
    headings = (*IMPORT_HEADINGS, " EMAIL ")

    parsed = read(csv_bytes([*GOOD.values(), "a@example.com"], headings=headings))

    assert parsed.rows == [good_row()]
    assert parsed.ignored_columns == ["Email"]


def test_an_empty_file_is_refused() -> None:
    assert refusal(b"") == "The file is empty; it needs the headings row at least."


def test_a_file_with_only_a_byte_order_mark_is_refused_as_empty() -> None:
    assert refusal(BOM) == "The file is empty; it needs the headings row at least."


def test_the_headings_alone_are_a_file_of_no_rows() -> None:
    parsed = read(csv_bytes())

    assert (parsed.rows, parsed.problems, parsed.blank_rows) == ([], [], [])


# Record Id and Delete?


@pytest.mark.parametrize("record_id", ["", "0", " 0 ", "   "])
def test_record_id_empty_or_0_is_a_new_record(record_id: str) -> None:
    parsed = read(csv_bytes(cells({RECORD_ID: record_id})))

    assert parsed.rows == [good_row(record_id=None)]


@pytest.mark.parametrize("record_id", ["abc", "00", "-1", "12345"])
def test_a_record_id_that_is_no_id_is_a_row_problem(record_id: str) -> None:
    assert problems_of(cells({RECORD_ID: record_id})) == [
        Problem(
            2,
            RECORD_ID,
            record_id,
            "A Record Id is empty or 0 for a new record, or the id of an existing one",
        )
    ]


@pytest.mark.parametrize("delete", ["T", "t", " T ", "\tt"])
def test_delete_T_in_any_case_and_trimmed_deletes(delete: str) -> None:
    parsed = read(csv_bytes(cells({RECORD_ID: RID, DELETE: delete})))

    assert parsed.rows == [good_row(record_id=RID, delete=True)]


@pytest.mark.parametrize("delete", ["Y", "yes", "F", "1", "TRUE", "N", "0", "no"])
def test_delete_values_other_than_empty_or_T_are_row_problems(delete: str) -> None:
    assert problems_of(cells({RECORD_ID: RID, DELETE: delete})) == [
        Problem(2, DELETE, delete, DELETE_REASON)
    ]


def test_deleting_needs_the_record_id() -> None:
    assert problems_of(cells({DELETE: "T"})) == [
        Problem(2, DELETE, "T", "Deleting needs the Record Id")
    ]


# Record Type and Object Id


@pytest.mark.parametrize(
    ("label", "kind"),
    [
        ("Course", RecordType.COURSE),
        ("QUIZ", RecordType.QUIZ),
        ("training event", RecordType.TRAINING_EVENT),
        (" Learning Path ", RecordType.LEARNING_PATH),
    ],
)
def test_content_and_path_rows_read_their_kind_and_object_id(
    label: str, kind: RecordType
) -> None:
    parsed = read(csv_bytes(cells({RECORD_TYPE: label, OBJECT_ID: OBJECT.upper()})))

    assert parsed.rows == [good_row(record_type=kind, object_id=OBJECT)]


@pytest.mark.parametrize("object_id", ["0", "", " 0 "])
def test_a_training_record_has_object_id_0(object_id: str) -> None:
    parsed = read(csv_bytes(cells({OBJECT_ID: object_id})))

    assert parsed.rows == [good_row(object_id=None)]


def test_a_training_record_with_an_object_id_is_a_row_problem() -> None:
    assert problems_of(cells({OBJECT_ID: OBJECT})) == [
        Problem(2, OBJECT_ID, OBJECT, "A Training Record's Object Id is 0")
    ]


@pytest.mark.parametrize(
    ("label", "object_id"),
    [
        ("Course", "0"),
        ("Quiz", ""),
        ("Training Event", "42"),
        ("Learning Path", "0"),
    ],
)
def test_a_content_or_path_row_without_its_id_is_a_row_problem(
    label: str, object_id: str
) -> None:
    assert problems_of(cells({RECORD_TYPE: label, OBJECT_ID: object_id})) == [
        Problem(2, OBJECT_ID, object_id, f"A {label} row needs the id of that {label}")
    ]


@pytest.mark.parametrize("label", ["Manual", "", "Courses", "TRAINING_RECORD"])
def test_an_unknown_record_type_is_a_row_problem(label: str) -> None:
    assert problems_of(cells({RECORD_TYPE: label})) == [
        Problem(
            2,
            RECORD_TYPE,
            label,
            "The Record Type must be one of Training Record, Course, Quiz, "
            "Training Event, Learning Path",
        )
    ]


# Completion Date


@pytest.mark.parametrize(
    ("value", "reason"),
    [
        ("03/04/2023", WHOLE_DATE_REASON),
        ("4.3.23", f"{PLAIN_DATE_REASON}: 4.3.23 could be day/month or month/day"),
        ("14/09/2023", PLAIN_DATE_REASON),
        ("9/14/2023", PLAIN_DATE_REASON),
        ("04/04/2023", PLAIN_DATE_REASON),
        ("00/04/2023", PLAIN_DATE_REASON),
        ("2023-6-1", PLAIN_DATE_REASON),
        ("20230601", PLAIN_DATE_REASON),
        ("2023-06-01T00:00", PLAIN_DATE_REASON),
        ("", PLAIN_DATE_REASON),
        ("2023-06-31", "There is no such day in the calendar"),
        ("2023-02-29", "There is no such day in the calendar"),
        ("2023-13-01", "There is no such day in the calendar"),
        ("2024-01-16", "The Completion Date is in the future"),
        ("2999-01-01", "The Completion Date is in the future"),
        ("1899-12-31", "The Completion Date is before 1900"),
    ],
)
def test_a_completion_date_not_a_real_past_yyyy_mm_dd_names_row_column_value(
    value: str, reason: str
) -> None:
    assert problems_of(cells({COMPLETION_DATE: value})) == [
        Problem(2, COMPLETION_DATE, value, reason)
    ]


@pytest.mark.parametrize("value", ["2024-01-15", "2024-02-29", "1900-01-01"])
def test_today_a_leap_day_and_1900_are_completion_dates(value: str) -> None:
    today = date(2024, 3, 1)

    parsed = read_file(csv_bytes(cells({COMPLETION_DATE: value})), today)

    assert parsed.rows == [good_row(completion_date=date.fromisoformat(value))]


# Other cells


def test_the_other_cells_are_checked_as_their_commands_check_them() -> None:
    row = cells(
        {
            NAME: "a b",
            TITLE: " ",
            PROVIDER: "tab\x07bell",
            OTHER: "x" * 5001,
            CODE: "CL-1",
        }
    )

    assert problems_of(row) == [
        Problem(
            2,
            NAME,
            "a b",
            "A username is 1 to 64 characters: letters, digits and . _ @ -, "
            "starting with a letter or digit; got 'a b'",
        ),
        Problem(2, TITLE, " ", "A title cannot be empty"),
        Problem(
            2,
            PROVIDER,
            "tab\x07bell",
            "This text cannot hold the control or invisible character U+0007",
        ),
        Problem(
            2,
            OTHER,
            "x" * 5001,
            "This text has at most 5000 characters; this one has 5001",
        ),
        Problem(
            2,
            CODE,
            "CL-1",
            "Character '-' (U+002D HYPHEN-MINUS) at position 3 is not allowed: a "
            "qualification code has only letters A-Z and digits 0-9",
        ),
    ]


def test_an_empty_code_is_a_record_without_a_code() -> None:
    parsed = read(csv_bytes(cells({CODE: " "})))

    assert parsed.rows == [good_row(code=None)]


def test_every_problem_of_a_row_is_listed_not_only_the_first() -> None:
    row = cells({RECORD_ID: "x", COMPLETION_DATE: "2023-06-31", DELETE: "yes"})

    assert problems_of(row) == [
        Problem(
            2,
            RECORD_ID,
            "x",
            "A Record Id is empty or 0 for a new record, or the id of an existing one",
        ),
        Problem(
            2, COMPLETION_DATE, "2023-06-31", "There is no such day in the calendar"
        ),
        Problem(2, DELETE, "yes", DELETE_REASON),
    ]


def test_every_bad_row_is_listed_and_the_good_rows_still_read() -> None:
    parsed = read(
        csv_bytes(
            cells({COMPLETION_DATE: "03/04/2023"}),
            cells(),
            cells({DELETE: "Y", RECORD_ID: RID}),
            cells({TITLE: "Second"}),
        )
    )

    assert parsed.rows == [good_row(3), good_row(5, title="Second")]
    assert parsed.problems == [
        Problem(2, COMPLETION_DATE, "03/04/2023", WHOLE_DATE_REASON),
        Problem(4, DELETE, "Y", DELETE_REASON),
    ]


def test_a_row_with_too_few_or_too_many_cells_is_a_row_problem() -> None:
    data = csv_bytes(
        ["", "alice", "Training Record"],
        [*GOOD.values(), "extra"],
        list(GOOD.values()),
    )

    parsed = read(data)

    assert parsed.rows == [good_row(4)]
    assert parsed.problems == [
        Problem(2, None, "", "The row has 3 cells; the headings have 10"),
        Problem(3, None, "", "The row has 11 cells; the headings have 10"),
    ]


def test_a_row_with_a_value_under_no_heading_is_a_row_problem_and_not_read() -> None:
    headings = [*IMPORT_HEADINGS[:3], "", *IMPORT_HEADINGS[3:]]
    values = list(GOOD.values())
    data = csv_bytes(
        [*values[:3], "IMPORTANT DATA", *values[3:]],
        [*values[:3], "", *values[3:]],
        headings=headings,
    )

    parsed = read(data)

    assert parsed.rows == [good_row(3)]
    assert parsed.problems == [
        Problem(2, None, "IMPORTANT DATA", "Column 4 has a value but no heading"),
    ]


def test_a_file_that_is_not_csv_is_refused_naming_the_line() -> None:
    data = f'{HEADER_LINE}\r\n{GOOD_LINE}\r\n,"alice"x,,,,,,,,\r\n'.encode()

    assert refusal(data) == (
        "The file is not valid CSV near line 3: ',' expected after '\"'."
    )


# The same Record Id twice


def test_the_same_record_id_twice_is_a_problem_on_both_rows_showing_each_cell() -> None:
    parsed = read(
        csv_bytes(
            cells({RECORD_ID: RID}),
            cells({RECORD_ID: OTHER_RID}),
            cells({RECORD_ID: f" {RID.upper()}", TITLE: "Other"}),
        )
    )

    assert parsed.rows == [good_row(3, record_id=OTHER_RID)]
    assert parsed.problems == [
        Problem(2, RECORD_ID, RID, "The same Record Id is on rows 2, 4"),
        Problem(4, RECORD_ID, f" {RID.upper()}", "The same Record Id is on rows 2, 4"),
    ]


def test_the_same_record_id_twice_is_flagged_even_when_one_row_has_other_problems() -> (
    None
):
    parsed = read(
        csv_bytes(
            cells({RECORD_ID: RID, COMPLETION_DATE: "2023-06-31"}),
            cells({RECORD_ID: RID}),
        )
    )

    assert parsed.rows == []
    assert sorted(parsed.problems, key=lambda p: (p.row, p.column or "")) == [
        Problem(
            2, COMPLETION_DATE, "2023-06-31", "There is no such day in the calendar"
        ),
        Problem(2, RECORD_ID, RID, "The same Record Id is on rows 2, 3"),
        Problem(3, RECORD_ID, RID, "The same Record Id is on rows 2, 3"),
    ]


def test_rows_without_a_record_id_may_repeat() -> None:
    parsed = read(csv_bytes(cells(), cells({RECORD_ID: "0"})))

    assert parsed.rows == [good_row(2), good_row(3)]
    assert parsed.problems == []


# Input bytes


def test_a_leading_byte_order_mark_is_dropped() -> None:
    parsed = read(BOM + csv_bytes(cells()))

    assert parsed.rows == [good_row()]
    assert parsed.ignored_columns == []


def test_a_byte_order_mark_inside_the_file_is_not_dropped() -> None:
    # Only the first one is an encoding mark; a later one is a hidden character.
    data = csv_bytes(cells({TITLE: "\ufeffFirst aid"}))

    assert problems_of_bytes(data) == [
        Problem(
            2,
            TITLE,
            "\ufeffFirst aid",
            "A title cannot hold the control or invisible character U+FEFF",
        )
    ]


@pytest.mark.parametrize("line_end", ["\r\n", "\n"], ids=["crlf", "lf"])
def test_crlf_and_lf_files_read_the_same_rows(line_end: str) -> None:
    data = csv_bytes(cells(), cells({TITLE: "Second"}), line_end=line_end)

    parsed = read(data)

    assert parsed.rows == [good_row(2), good_row(3, title="Second")]
    assert parsed.blank_rows == []


def test_a_last_line_without_a_line_end_is_read() -> None:
    data = f"{HEADER_LINE}\r\n{GOOD_LINE}".encode()

    assert read(data).rows == [good_row()]


@pytest.mark.parametrize("break_", ["\n", "\r\n"], ids=["lf-in-cell", "crlf-in-cell"])
def test_a_quoted_cell_with_line_breaks_reads_as_one_cell(break_: str) -> None:
    data = (
        f"{HEADER_LINE}\r\n"
        f',alice,Training Record,0,First aid,Red Cross,2023-07-20,"line one{break_}'
        f'line two{break_}line three",CPR,\r\n'
    ).encode()

    parsed = read(data)

    assert parsed.problems == []
    assert parsed.rows == [good_row(other_information="line one\nline two\nline three")]


def test_row_numbers_count_records_not_lines() -> None:
    data = (
        f"{HEADER_LINE}\r\n"
        ',alice,Training Record,0,First aid,Red Cross,2023-07-20,"one\ntwo\nthree",'
        "CPR,\r\n"
        ",alice,Training Record,0,First aid,Red Cross,2023-06-31,,CPR,\r\n"
    ).encode()

    parsed = read(data)

    assert parsed.rows == [good_row(2, other_information="one\ntwo\nthree")]
    assert parsed.problems == [
        Problem(
            3, COMPLETION_DATE, "2023-06-31", "There is no such day in the calendar"
        )
    ]


def test_a_file_that_is_not_utf8_is_refused_with_the_byte_offset() -> None:
    # Excel's "CSV (Comma delimited)" writes Windows-1252: é is the one byte E9.
    head = f"{HEADER_LINE}\r\n,alice,Training Record,0,Caf".encode()
    data = head + b"\xe9 course,,2023-07-20,,CPR,\r\n"

    message = refusal(data)

    assert message == (
        f"The file is not UTF-8 text: byte {len(head)} (counting from 0) is 0xE9. "
        "Save it as CSV UTF-8 and try again."
    )


def test_a_utf16_file_is_refused_at_its_first_byte() -> None:
    data = csv_bytes(cells()).decode().encode("utf-16")

    assert refusal(data) == (
        "The file is not UTF-8 text: byte 0 (counting from 0) is 0xFF. "
        "Save it as CSV UTF-8 and try again."
    )


def test_accents_and_other_scripts_in_utf8_are_read_as_they_are() -> None:
    title = "Café Ærø — 安全 training"

    parsed = read(BOM + csv_bytes(cells({TITLE: title, PROVIDER: "Zoë"})))

    assert parsed.rows == [good_row(title=title, training_provider="Zoë")]


def test_a_file_as_excel_saves_it_quotes_everywhere_and_trailing_blank_rows() -> None:
    def line(values: list[str]) -> str:
        return ",".join(f'"{value}"' for value in values) + "\r\n"

    text = (
        line(list(IMPORT_HEADINGS))
        + line(list(GOOD.values()))
        + line(list(cells({TITLE: "Second", RECORD_ID: "0"}).values()))
        + ",,,,,,,,,\r\n"
        + ",,,,,,,,,\r\n"
        + '"","","","","","","","","",""\r\n'
    )
    data = BOM + text.encode()

    parsed = read(data)

    assert parsed.rows == [good_row(2), good_row(3, title="Second")]
    assert parsed.problems == []
    assert parsed.blank_rows == [4, 5, 6]
    assert parsed.checksum == hashlib.sha256(data).hexdigest()


def test_blank_rows_between_rows_are_reported_not_silently_dropped() -> None:
    data = (
        f"{HEADER_LINE}\r\n{GOOD_LINE}\r\n\r\n , ,,,,,,,,\r\n{GOOD_LINE}\r\n"
    ).encode()

    parsed = read(data)

    assert parsed.rows == [good_row(2), good_row(5)]
    assert parsed.blank_rows == [3, 4]


# Neutralising formula-like cells


@pytest.mark.parametrize("start", FORMULA_STARTS)
def test_a_cell_a_spreadsheet_would_run_is_neutralised_with_a_quote(
    start: str,
) -> None:
    assert neutralise(f"{start}1+1") == f"'{start}1+1"


def test_the_formula_starts_are_equals_plus_minus_at_tab_and_cr() -> None:
    assert FORMULA_STARTS == ("=", "+", "-", "@", "\t", "\r")


@pytest.mark.parametrize(
    "cell", ["First aid", "", "1+1", " =x", "'quoted", "it's", "'"]
)
def test_other_cells_are_written_as_they_are(cell: str) -> None:
    assert neutralise(cell) == cell


@pytest.mark.parametrize(
    "cell",
    [
        "=SUM(A1)",
        "+44 20 7946 0000",
        "-5",
        "@home",
        "\tindented",
        "\rreturn",
        "plain",
        "'Tis the season",
        "'",
        "''",
        "'=1+1",
        "''=1+1",
        "'-5",
    ],
)
def test_unneutralise_undoes_neutralise_for_every_cell(cell: str) -> None:
    assert unneutralise(neutralise(cell)) == cell


def test_neutralising_twice_then_reading_twice_gives_the_cell_back() -> None:
    cell = '=HYPERLINK("http://example.com")'

    assert unneutralise(unneutralise(neutralise(neutralise(cell)))) == cell


def test_reading_a_file_takes_the_neutralising_quote_off_every_cell() -> None:
    row = cells({TITLE: "'=SUM(A1)", PROVIDER: "'+44 20", OTHER: "'@home"})

    parsed = read(csv_bytes(row))

    assert parsed.rows == [
        good_row(
            title="=SUM(A1)", training_provider="+44 20", other_information="@home"
        )
    ]


def test_a_leading_quote_before_ordinary_text_is_kept() -> None:
    parsed = read(csv_bytes(cells({TITLE: "'Tis the season"})))

    assert parsed.rows == [good_row(title="'Tis the season")]
