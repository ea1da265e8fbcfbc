"""Each mutation once over HTTP: its payload, and its user errors for bad input."""

from __future__ import annotations

from typing import Any

from domain.principal import Role
from tests.graph.conftest import GraphQLClient

ERRORS = "userErrors { code field message }"


async def _register(client: GraphQLClient, username: str = "lena") -> None:
    await client.data(
        f'mutation {{ registerUser(input: {{username: "{username}", '
        f'email: "{username}@example.com", firstName: "Lena", lastName: "Park"}}) '
        "{ userErrors { code } } }"
    )


async def _quiz(client: GraphQLClient, **fields: Any) -> Any:
    data = await client.data(
        f"mutation($input: CreateQuizInput!) {{ createQuiz(input: $input) {{ "
        f"content {{ id kind code passMark status recordedInTrainingRecord }} {ERRORS} "
        "} }",
        {"input": {"title": "CPR theory", "passMark": 80, **fields}},
    )
    return data["createQuiz"]


async def test_create_code_trims_and_upper_cases_and_keeps_leading_zeros(
    client: GraphQLClient,
) -> None:
    data = await client.data(
        f'mutation {{ createCode(input: {{code: " 007 ", description: " Spy "}}) '
        f"{{ code {{ code description inUse activeRecordCount }} {ERRORS} }} }}"
    )

    assert data["createCode"] == {
        "code": {
            "code": "007",
            "description": "Spy",
            "inUse": False,
            "activeRecordCount": 0,
        },
        "userErrors": [],
    }


async def test_invalid_code_names_the_character_and_position(
    client: GraphQLClient,
) -> None:
    data = await client.data(
        f'mutation {{ createCode(input: {{code: "EG\\u0399 1"}}) '
        f"{{ code {{ code }} {ERRORS} }} }}"
    )

    assert data["createCode"] == {
        "code": None,
        "userErrors": [
            {
                "code": "INVALID_CODE",
                "field": "code",
                "message": "Character '\u0399' (U+0399 GREEK CAPITAL LETTER IOTA) at "
                "position 3 is not allowed: a qualification code has only "
                "letters A-Z and digits 0-9.",
            }
        ],
    }


async def test_update_description_and_rename_to_a_taken_code(
    client: GraphQLClient,
) -> None:
    for code in ("CPR", "EGMP"):
        await client.data(
            f'mutation {{ createCode(input: {{code: "{code}"}}) {{ {ERRORS} }} }}'
        )

    described = await client.data(
        'mutation { updateCodeDescription(input: {code: "cpr", description: '
        f'"Resuscitation"}}) {{ code {{ code description }} {ERRORS} }} }}'
    )
    taken = await client.data(
        'mutation { renameCode(input: {code: "CPR", newCode: "egmp"}) '
        f"{{ code {{ code }} {ERRORS} }} }}"
    )

    assert described["updateCodeDescription"] == {
        "code": {"code": "CPR", "description": "Resuscitation"},
        "userErrors": [],
    }
    assert taken["renameCode"]["code"] is None
    assert [(e["code"], e["field"]) for e in taken["renameCode"]["userErrors"]] == [
        ("CODE_TAKEN", "newCode")
    ]


async def test_quiz_with_a_code_registers_the_code(client: GraphQLClient) -> None:
    quiz = await _quiz(client, code="cprq")

    assert quiz["userErrors"] == []
    assert quiz["content"]["kind"] == "QUIZ"
    assert quiz["content"]["code"] == "CPRQ"
    assert quiz["content"]["passMark"] == 80
    code = await client.data('{ code(code: "CPRQ") { usedIn { kind title } } }')
    assert code["code"] == {"usedIn": [{"kind": "QUIZ", "title": "CPR theory"}]}


async def test_a_code_on_content_outside_training_records_is_refused(
    client: GraphQLClient,
) -> None:
    quiz = await _quiz(client, code="CPRQ", recordedInTrainingRecord=False)

    assert quiz["content"] is None
    assert [e["code"] for e in quiz["userErrors"]] == ["CODE_REQUIRES_TRAINING_RECORD"]
    assert (await client.data("{ codes { totalCount } }"))["codes"]["totalCount"] == 0


async def test_a_quiz_pass_mark_over_100_is_refused(client: GraphQLClient) -> None:
    quiz = await _quiz(client, passMark=101)

    assert quiz["content"] is None
    assert [(e["code"], e["field"]) for e in quiz["userErrors"]] == [
        ("INVALID_INPUT", "passMark")
    ]


async def test_enrol_complete_update_and_delete_a_record(
    client: GraphQLClient,
) -> None:
    await _register(client)
    quiz = (await _quiz(client, code="CPRQ"))["content"]
    lena = client.as_user("lena", Role.LEARNER)

    enrolled = await lena.data(
        "mutation($id: ID!) { enrol(input: {contentId: $id}) "
        f"{{ content {{ id }} {ERRORS} }} }}",
        {"id": quiz["id"]},
    )
    completed = await client.data(
        "mutation($id: ID!) { completeContent(input: {contentId: $id, "
        'username: "lena", completionDate: "2024-02-29"}) '
        f"{{ trainingRecord {{ recordId recordType objectId code }} {ERRORS} }} }}",
        {"id": quiz["id"]},
    )
    record = completed["completeContent"]["trainingRecord"]
    updated = await client.data(
        "mutation($id: ID!) { updateTrainingRecord(input: {recordId: $id, "
        'trainingProvider: "Red Cross", code: null}) { trainingRecord { '
        f"title trainingProvider completionDate code }} {ERRORS} }} }}",
        {"id": record["recordId"]},
    )
    deleted = await client.data(
        "mutation($id: ID!) { deleteRecord(input: {recordId: $id}) "
        f"{{ deletedRecordId {ERRORS} }} }}",
        {"id": record["recordId"]},
    )

    assert enrolled["enrol"] == {"content": {"id": quiz["id"]}, "userErrors": []}
    assert record["recordType"] == "QUIZ"
    assert record["objectId"] == quiz["id"]
    assert record["code"] == "CPRQ"
    assert updated["updateTrainingRecord"] == {
        "trainingRecord": {
            "title": "CPR theory",
            "trainingProvider": "Red Cross",
            "completionDate": "2024-02-29",
            "code": None,
        },
        "userErrors": [],
    }
    assert deleted["deleteRecord"]["userErrors"] == []
    records = await lena.data("{ trainingRecords { totalCount } }")
    assert records["trainingRecords"]["totalCount"] == 0


async def test_a_future_completion_date_is_refused(client: GraphQLClient) -> None:
    await _register(client)

    data = await client.data(
        'mutation { addTrainingRecord(input: {username: "lena", title: "CPR", '
        'completionDate: "2999-01-01"}) '
        f"{{ trainingRecord {{ recordId }} {ERRORS} }} }}"
    )

    [error] = data["addTrainingRecord"]["userErrors"]
    assert (error["code"], error["field"]) == ("INVALID_DATE", "completionDate")
    assert error["message"] == "The completion date 2999-01-01 is in the future."


async def test_an_impossible_date_is_refused_before_anything_runs(
    client: GraphQLClient,
) -> None:
    await _register(client)

    response = await client.post(
        'mutation { addTrainingRecord(input: {username: "lena", title: "CPR", '
        f'completionDate: "2023-06-31"}}) {{ {ERRORS} }} }}'
    )

    body = response.json()
    assert body["data"] is None
    assert "2023-06-31" in body["errors"][0]["message"]
    records = await client.data('{ trainingRecords(username: "lena") { totalCount } }')
    assert records["trainingRecords"]["totalCount"] == 0


async def test_unknown_ids_and_users_are_not_found(client: GraphQLClient) -> None:
    data = await client.data(
        'mutation { deleteRecord(input: {recordId: "not-an-id"}) '
        f"{{ deletedRecordId {ERRORS} }} "
        'joinPath(input: {pathCode: "NOPE", username: "ghost"}) '
        f"{{ progress {{ percent }} {ERRORS} }} }}"
    )

    assert [e["code"] for e in data["deleteRecord"]["userErrors"]] == ["BAD_USER_INPUT"]
    assert [e["field"] for e in data["joinPath"]["userErrors"]] == ["username"]


async def test_set_path_steps_keeps_the_pass_mark_when_left_out(
    client: GraphQLClient,
) -> None:
    await client.data(
        'mutation { createLearningPath(input: {code: "EGPG", title: "Safety", '
        'passMark: 10, steps: [{code: "CPR", title: "CPR", points: 10}, '
        f'{{code: "EG012", title: "Fire", points: 5}}]}}) {{ {ERRORS} }} }}'
    )

    kept = await client.data(
        'mutation { setPathSteps(input: {pathCode: "EGPG", steps: ['
        '{code: "CPR", title: "CPR", points: 20}]}) '
        "{ learningPath { passMark totalPoints steps { code points } } "
        f"{ERRORS} }} }}"
    )
    cleared = await client.data(
        'mutation { setPathSteps(input: {pathCode: "EGPG", passMark: null, steps: ['
        '{code: "CPR", title: "CPR", points: 20}]}) '
        f"{{ learningPath {{ passMark }} {ERRORS} }} }}"
    )
    too_high = await client.data(
        'mutation { setPathSteps(input: {pathCode: "EGPG", passMark: 21, steps: ['
        '{code: "CPR", title: "CPR", points: 20}]}) '
        f"{{ learningPath {{ passMark }} {ERRORS} }} }}"
    )

    assert kept["setPathSteps"] == {
        "learningPath": {
            "passMark": 10,
            "totalPoints": 20,
            "steps": [{"code": "CPR", "points": 20}],
        },
        "userErrors": [],
    }
    assert cleared["setPathSteps"]["learningPath"] == {"passMark": None}
    assert [
        (e["code"], e["field"]) for e in too_high["setPathSteps"]["userErrors"]
    ] == [("INVALID_INPUT", "passMark")]
    unused = await client.data('{ code(code: "EG012") { inUse } }')
    assert unused["code"] == {"inUse": False}


async def test_participants_list_progress_for_managers_only(
    client: GraphQLClient,
) -> None:
    await client.data(
        'mutation { createLearningPath(input: {code: "EGPG", title: "Safety", '
        f'steps: [{{code: "CPR", title: "CPR", points: 10}}]}}) {{ {ERRORS} }} }}'
    )
    for name in ("zoe", "amy"):
        await _register(client, name)
        await client.data(
            f'mutation {{ joinPath(input: {{pathCode: "EGPG", username: "{name}"}}) '
            f"{{ {ERRORS} }} }}"
        )
    query = (
        '{ learningPath(code: "EGPG") { participants(first: 1) { totalCount '
        "pageInfo { hasNextPage } nodes { username percent } } } }"
    )

    page = await client.data(query)
    refused = await client.as_user("amy", Role.LEARNER).post(query)

    assert page["learningPath"]["participants"] == {
        "totalCount": 2,
        "pageInfo": {"hasNextPage": True},
        "nodes": [{"username": "amy", "percent": 0}],
    }
    assert refused.json()["errors"][0]["extensions"]["code"] == "FORBIDDEN"
