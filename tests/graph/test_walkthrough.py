"""The seed document's walk-through, end to end over real HTTP."""

from __future__ import annotations

from typing import Any

from domain.principal import Role
from tests.graph.conftest import GraphQLClient

CREATE_COURSE = """
mutation($input: CreateCourseInput!) {
  createCourse(input: $input) { content { id code } userErrors { code message } }
}"""
CREATE_EVENT = """
mutation($input: CreateTrainingEventInput!) {
  createTrainingEvent(input: $input) {
    content { id code sessions { startsAt location } } userErrors { code message }
  }
}"""
CREATE_PATH = """
mutation($input: CreateLearningPathInput!) {
  createLearningPath(input: $input) {
    learningPath { code totalPoints steps { code title points mandatory } }
    userErrors { code message }
  }
}"""
COMPLETE = """
mutation($id: ID!, $date: Date!) {
  completeContent(input: {contentId: $id, username: "lena", completionDate: $date}) {
    trainingRecord { recordId code recordType } userErrors { code message }
  }
}"""
PROGRESS = """
query { pathProgress(pathCode: "CLABEG", username: "lena") {
  pointsEarned pointsTotal percent complete completedAt
  satisfiedSteps { code } missingSteps { code }
} }"""
RECORDS = """
query { trainingRecords(username: "lena") {
  totalCount nodes { recordId recordType title code completionDate }
} }"""
DELETE_CODE = """
mutation($code: String!) {
  deleteCode(input: {code: $code}) { deletedCode userErrors { code field message } }
}"""


async def load_example(admin: GraphQLClient) -> dict[str, str]:
    course = await admin.data(
        CREATE_COURSE,
        {
            "input": {
                "title": "Claromentis Essentials",
                "code": "CLAESS",
                "prerequisite": "No previous knowledge of Claromentis required",
                "modules": [
                    {"title": "Getting Started 1", "lengthMinutes": 60},
                    {"title": "Getting Started 2", "lengthMinutes": 60},
                ],
            }
        },
    )
    drop_in = await admin.data(
        CREATE_EVENT,
        {
            "input": {
                "title": "Claromentis Drop-In Session",
                "code": "CLARODROP",
                "sessions": [{"startsAt": "2023-07-24T15:00:00+01:00"}],
            }
        },
    )
    tips = await admin.data(
        CREATE_EVENT,
        {
            "input": {
                "title": "Claromentis Tips & Tricks",
                "code": "CLAROTAT",
                "sessions": [{"startsAt": "2023-07-21T13:00:00+01:00"}],
            }
        },
    )
    path = await admin.data(
        CREATE_PATH,
        {
            "input": {
                "code": "CLABEG",
                "title": "Claromentis Digital Workplace",
                "steps": [
                    {
                        "code": "CLAESS",
                        "title": "Claromentis Essentials",
                        "points": 20,
                        "mandatory": True,
                    },
                    {"code": "CLARODROP", "title": "Drop In Session", "points": 10},
                    {
                        "code": "CLAROTAT",
                        "title": "Claromentis Tips and Tricks",
                        "points": 10,
                    },
                ],
            }
        },
    )
    assert path["createLearningPath"] == {
        "learningPath": {
            "code": "CLABEG",
            "totalPoints": 40,
            "steps": [
                {
                    "code": "CLAESS",
                    "title": "Claromentis Essentials",
                    "points": 20,
                    "mandatory": True,
                },
                {
                    "code": "CLARODROP",
                    "title": "Drop In Session",
                    "points": 10,
                    "mandatory": False,
                },
                {
                    "code": "CLAROTAT",
                    "title": "Claromentis Tips and Tricks",
                    "points": 10,
                    "mandatory": False,
                },
            ],
        },
        "userErrors": [],
    }
    await admin.data(
        """mutation { registerUser(input: {username: "lena", email: "lena@example.com",
        firstName: "Lena", lastName: "Park"}) { userErrors { code } } }"""
    )
    return {
        "course": course["createCourse"]["content"]["id"],
        "drop_in": drop_in["createTrainingEvent"]["content"]["id"],
        "tips": tips["createTrainingEvent"]["content"]["id"],
    }


def _codes(steps: list[dict[str, Any]]) -> list[str]:
    return [step["code"] for step in steps]


async def test_learner_walks_the_path_and_a_renamed_code_shows_everywhere(
    client: GraphQLClient,
) -> None:
    ids = await load_example(client)
    lena = client.as_user("lena", Role.LEARNER)

    joined = await lena.data(
        """mutation { joinPath(input: {pathCode: "CLABEG"}) {
        progress { pointsEarned pointsTotal percent } userErrors { code } } }"""
    )
    assert joined["joinPath"] == {
        "progress": {"pointsEarned": 0, "pointsTotal": 40, "percent": 0},
        "userErrors": [],
    }

    await client.data(COMPLETE, {"id": ids["course"], "date": "2023-07-20"})
    progress = (await lena.data(PROGRESS))["pathProgress"]
    assert (progress["pointsEarned"], progress["pointsTotal"]) == (20, 40)
    assert progress["percent"] == 50
    assert progress["complete"] is False
    assert _codes(progress["missingSteps"]) == ["CLARODROP", "CLAROTAT"]

    await client.data(COMPLETE, {"id": ids["tips"], "date": "2023-07-21"})
    await client.data(COMPLETE, {"id": ids["drop_in"], "date": "2023-07-24"})
    progress = (await lena.data(PROGRESS))["pathProgress"]
    assert (progress["pointsEarned"], progress["percent"]) == (40, 100)
    assert progress["complete"] is True
    assert progress["completedAt"] is not None
    records = (await lena.data(RECORDS))["trainingRecords"]
    assert records["totalCount"] == 4
    awards = [r for r in records["nodes"] if r["recordType"] == "LEARNING_PATH"]
    assert [(a["code"], a["title"], a["completionDate"]) for a in awards] == [
        ("CLABEG", "Claromentis Digital Workplace", "2023-07-24")
    ]

    impact = await client.data(
        """{ renameImpact(code: "CLAESS") { activeRecordCount learnerCount
        usedIn { kind title } } }"""
    )
    assert impact["renameImpact"] == {
        "activeRecordCount": 1,
        "learnerCount": 1,
        "usedIn": [
            {"kind": "COURSE", "title": "Claromentis Essentials"},
            {"kind": "LEARNING_STEP", "title": "Claromentis Essentials"},
        ],
    }
    renamed = await client.data(
        """mutation { renameCode(input: {code: "claess", newCode: "CLAESS2"}) {
        code { code } userErrors { code } } }"""
    )
    assert renamed["renameCode"] == {"code": {"code": "CLAESS2"}, "userErrors": []}

    course = await client.data(
        "query($id: ID!) { content(contentId: $id) { code } }", {"id": ids["course"]}
    )
    assert course["content"] == {"code": "CLAESS2"}
    path = await client.data('{ learningPath(code: "CLABEG") { steps { code } } }')
    assert _codes(path["learningPath"]["steps"]) == ["CLAESS2", "CLARODROP", "CLAROTAT"]
    progress = (await lena.data(PROGRESS))["pathProgress"]
    assert _codes(progress["satisfiedSteps"]) == ["CLAESS2", "CLARODROP", "CLAROTAT"]
    records = (await lena.data(RECORDS))["trainingRecords"]["nodes"]
    assert "CLAESS2" in [r["code"] for r in records]
    assert "CLAESS" not in [r["code"] for r in records]
    # The old name answers with where it went.
    moved = await client.data('{ code(code: "CLAESS") { code } }')
    assert moved == {"code": {"code": "CLAESS2"}}


async def test_in_use_code_is_refused_until_its_last_use_is_gone(
    client: GraphQLClient,
) -> None:
    ids = await load_example(client)
    await client.data(
        'mutation { joinPath(input: {pathCode: "CLABEG", username: "lena"}) '
        "{ userErrors { code } } }"
    )
    completed = await client.data(COMPLETE, {"id": ids["course"], "date": "2023-07-20"})
    record_id = completed["completeContent"]["trainingRecord"]["recordId"]

    refused = (await client.data(DELETE_CODE, {"code": "CLAESS"}))["deleteCode"]
    assert refused["deletedCode"] is None
    [error] = refused["userErrors"]
    assert (error["code"], error["field"]) == ("CODE_IN_USE", "code")
    assert "course 'Claromentis Essentials'" in error["message"]
    assert "learning step 'Claromentis Essentials' of path" in error["message"]
    assert "1 active training record" in error["message"]

    await client.data(
        "mutation($id: ID!) { setContentCode(input: {contentId: $id, code: null}) "
        "{ content { code } userErrors { code } } }",
        {"id": ids["course"]},
    )
    await client.data(
        """mutation { setPathSteps(input: {pathCode: "CLABEG", steps: [
          {code: "CLARODROP", title: "Drop In Session", points: 10},
          {code: "CLAROTAT", title: "Claromentis Tips and Tricks", points: 10}
        ]}) { learningPath { totalPoints } userErrors { code } } }"""
    )
    still = (await client.data(DELETE_CODE, {"code": "CLAESS"}))["deleteCode"]
    assert [e["code"] for e in still["userErrors"]] == ["CODE_IN_USE"]
    assert "1 active training record" in still["userErrors"][0]["message"]

    deleted = await client.data(
        "mutation($id: ID!) { deleteRecord(input: {recordId: $id}) "
        "{ deletedRecordId userErrors { code } } }",
        {"id": record_id},
    )
    assert deleted["deleteRecord"] == {"deletedRecordId": record_id, "userErrors": []}
    gone = (await client.data(DELETE_CODE, {"code": "CLAESS"}))["deleteCode"]
    assert gone == {"deletedCode": "CLAESS", "userErrors": []}

    activity = await client.data(
        "query($id: ID!) { courseActivity(contentId: $id) "
        "{ enrolments completions learnersCompleted } }",
        {"id": ids["course"]},
    )
    assert activity["courseActivity"] == {
        "enrolments": 1,
        "completions": 1,
        "learnersCompleted": 1,
    }
    codes = await client.data('{ codes(search: "CLAESS") { totalCount } }')
    assert codes["codes"]["totalCount"] == 0
