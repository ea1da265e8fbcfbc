"""A code's old name, after a rename, finds the code wherever a query takes a name.

``code(code:)`` answers with where the name went; the filters, the export and the
path look-ups do the same, rather than saying the code does not exist.
"""

from __future__ import annotations

import httpx

from graph.exports import EXPORT_PATH
from tests.graph.conftest import GraphQLClient

SETUP = (
    'mutation { a: createCode(input: {code: "CLAESS"}) { userErrors { code } } '
    'b: createLearningPath(input: {code: "PATHOLD", title: "Essentials", '
    'steps: [{code: "CLAESS", title: "One", points: 10}]}) { userErrors { code } } '
    'c: registerUser(input: {username: "ann", email: "ann@example.com", '
    'firstName: "Ann", lastName: "Lee"}) { userErrors { code } } }'
)
RECORD = (
    'mutation { joinPath(input: {pathCode: "PATHOLD", username: "ann"}) '
    "{ userErrors { code } } "
    'addTrainingRecord(input: {username: "ann", title: "Essentials", '
    'completionDate: "2026-01-05", code: "CLAESS"}) { userErrors { code } } }'
)
RENAME = (
    'mutation { a: renameCode(input: {code: "CLAESS", newCode: "CLAESS2"}) '
    "{ userErrors { code } } "
    'b: renameCode(input: {code: "PATHOLD", newCode: "PATHNEW"}) '
    "{ userErrors { code } } }"
)
READS = (
    "query($code: String!, $path: String!) { "
    "events(filter: {code: $code}) { totalCount nodes { position } } "
    "trainingRecords(code: $code) { totalCount nodes { recordId code } } "
    "learningPath(code: $path) { code title } "
    'pathProgress(pathCode: $path, username: "ann") { pathCode pointsEarned } '
    "validityImpact(code: $code, months: 12) { code } "
    "renameImpact(code: $code) { code activeRecordCount } }"
)


async def test_an_old_name_reads_what_the_new_name_reads(
    client: GraphQLClient,
) -> None:
    for mutation in (SETUP, RECORD, RENAME):
        data = await client.data(mutation)
        assert all(not answer["userErrors"] for answer in data.values()), data

    new = await client.data(READS, {"code": "CLAESS2", "path": "PATHNEW"})
    old = await client.data(READS, {"code": "claess", "path": "PATHOLD"})

    assert old == new
    assert new["trainingRecords"]["totalCount"] == 1
    assert new["trainingRecords"]["nodes"][0]["code"] == "CLAESS2"
    assert new["learningPath"] == {"code": "PATHNEW", "title": "Essentials"}
    assert new["renameImpact"] == {"code": "CLAESS2", "activeRecordCount": 1}
    assert new["events"]["totalCount"] >= 2

    async with httpx.AsyncClient() as http:
        exports = [
            await http.get(
                f"{client.server.url}{EXPORT_PATH}",
                params={"code": code},
                headers={"Authorization": f"Bearer {client.token}"},
            )
            for code in ("CLAESS2", "CLAESS")
        ]
    assert [r.status_code for r in exports] == [200, 200]
    assert exports[0].text == exports[1].text
    assert "CLAESS2" in exports[0].text


async def test_a_name_never_used_is_still_not_found(client: GraphQLClient) -> None:
    response = await client.post('{ trainingRecords(code: "NOSUCH") { totalCount } }')

    [error] = response.json()["errors"]
    assert error["message"] == "There is no qualification code NOSUCH."
    assert error["extensions"] == {"code": "NOT_FOUND", "field": "code"}


async def test_a_path_mutation_given_the_old_code_says_where_it_went(
    client: GraphQLClient,
) -> None:
    for mutation in (SETUP, RENAME):
        await client.data(mutation)

    data = await client.data(
        'mutation { joinPath(input: {pathCode: "PATHOLD", username: "ann"}) '
        "{ progress { pathCode } userErrors { code field message } } }"
    )

    assert data["joinPath"] == {
        "progress": None,
        "userErrors": [
            {
                "code": "NOT_FOUND",
                "field": "pathCode",
                "message": "The learning path code PATHOLD was renamed to PATHNEW.",
            }
        ],
    }


async def test_a_deleted_codes_events_are_found_by_its_last_name(
    client: GraphQLClient,
) -> None:
    await client.data(
        'mutation { a: createCode(input: {code: "GONE"}) { userErrors { code } } '
        'b: renameCode(input: {code: "GONE", newCode: "GONE2"}) '
        "{ userErrors { code } } }"
    )
    await client.data(
        'mutation { deleteCode(input: {code: "GONE2"}) { userErrors { code } } }'
    )

    query = (
        "query($code: String!) { events(filter: {code: $code}) "
        "{ nodes { type aggregateId } } }"
    )
    data = await client.data(query, {"code": "GONE2"})

    nodes = data["events"]["nodes"]
    assert [n["type"] for n in nodes] == ["CodeCreated", "CodeRenamed", "CodeDeleted"]
    assert len({n["aggregateId"] for n in nodes}) == 1
    # The name it had before the rename was released for good: nothing answers it.
    gone = await client.post(query, {"code": "GONE"})
    assert gone.json()["errors"][0]["message"] == (
        "There is no qualification code GONE."
    )


async def test_a_path_mutation_given_a_plain_codes_old_name_finds_no_path(
    client: GraphQLClient,
) -> None:
    for mutation in (SETUP, RENAME):
        await client.data(mutation)

    # CLAESS was a step's code, never a path's own.
    data = await client.data(
        'mutation { setPathCountsExpired(input: {pathCode: "CLAESS", '
        "countsExpired: true}) { userErrors { code message } } }"
    )

    assert data["setPathCountsExpired"]["userErrors"] == [
        {"code": "NOT_FOUND", "message": "There is no learning path with code CLAESS."}
    ]
