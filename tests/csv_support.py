"""Training-record CSV files for the import and export tests: built, read, edited."""

from __future__ import annotations

import csv
import io
import json

import httpx

from domain.imports import EXPORT_HEADINGS, IMPORT_HEADINGS

BOM = "\ufeff"
IMPORT_QUERY = (
    "mutation($input: ImportTrainingRecordsInput!) { importTrainingRecords("
    "input: $input) { report { importId fileName checksum dryRun applied created "
    "updated deleted unchanged duplicates rows { row action recordId } "
    "problems { row column value reason } ignoredColumns blankRows } "
    "userErrors { code field message } } }"
)


def import_row(
    *,
    record_id: str = "",
    name: str = "alice",
    record_type: str = "Training Record",
    object_id: str = "0",
    title: str = "First aid",
    provider: str = "Red Cross",
    completed: str = "2023-07-20",
    other: str = "",
    code: str = "",
    delete: str = "",
) -> dict[str, str]:
    """One row's cells by import heading; by default a new manual record."""
    values = (
        record_id,
        name,
        record_type,
        object_id,
        title,
        provider,
        completed,
        other,
        code,
        delete,
    )
    return dict(zip(IMPORT_HEADINGS, values, strict=True))


def csv_file(
    *rows: dict[str, str],
    headings: tuple[str, ...] = IMPORT_HEADINGS,
    bom: bool = False,
) -> bytes:
    """A UTF-8 file with CRLF line ends: the headings, then one line per row."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\r\n")
    writer.writerow(headings)
    for row in rows:
        writer.writerow([row.get(heading, "") for heading in headings])
    return ((BOM if bom else "") + buffer.getvalue()).encode("utf-8")


def read_export(data: bytes) -> list[dict[str, str]]:
    """An export's rows as cells by heading; the file must open as the export's."""
    text = data.decode("utf-8")
    assert text.startswith(BOM)
    reader = csv.reader(io.StringIO(text[len(BOM) :], newline=""))
    headings = next(reader)
    assert tuple(headings) == EXPORT_HEADINGS
    return [dict(zip(headings, cells, strict=True)) for cells in reader]


def edit_export(data: bytes, changes: dict[int, dict[str, str]]) -> bytes:
    """An export with some cells changed, written back as a spreadsheet would.

    ``changes`` maps the index of a data row (0 is the first) to new cells.
    """
    rows = read_export(data)
    for index, cells in changes.items():
        rows[index] = {**rows[index], **cells}
    return csv_file(*rows, headings=EXPORT_HEADINGS, bom=True)


async def upload(
    url: str,
    data: bytes,
    token: str | None,
    *,
    dry_run: bool = False,
    file_name: str = "records.csv",
    headers: dict[str, str] | None = None,
) -> httpx.Response:
    """POST ``data`` to ``importTrainingRecords`` as the GraphQL multipart spec has it.

    The form holds ``operations`` (the query, the file variable null), ``map``
    (which form part is that variable) and the file part itself.
    """
    operations = {
        "query": IMPORT_QUERY,
        "variables": {"input": {"file": None, "dryRun": dry_run}},
    }
    # Clients that upload send this header so that browsers ask before sending.
    sent = {"Apollo-Require-Preflight": "true", **(headers or {})}
    if token is not None:
        sent["Authorization"] = f"Bearer {token}"
    async with httpx.AsyncClient(timeout=30) as http:
        return await http.post(
            f"{url}/graphql",
            data={
                "operations": json.dumps(operations),
                "map": json.dumps({"0": ["variables.input.file"]}),
            },
            files={"0": (file_name, data, "text/csv")},
            headers=sent,
        )
