"""Certificate expiry over HTTP: the mutation, the fields, the report and its CSV."""

from __future__ import annotations

import base64
import csv
import io
import json
from datetime import date
from typing import Any

import httpx
import pytest

from domain import commands as c
from domain.principal import Role
from graph.exports import EXPIRATIONS_PATH
from tests.graph.conftest import GraphQLClient, Server
from tests.support import LEARNER, OTHER_LEARNER, complete, course, register, run

TODAY = date(2025, 3, 10)
ERRORS = "userErrors { code field message }"


@pytest.fixture
def cpr(server: Server) -> str:
    """Today is 2025-03-10; CPR lasts 12 months; alice renewed, bob expired."""
    backend = server.backend
    backend.write_model.clock = lambda: TODAY
    register(backend, LEARNER)
    register(backend, OTHER_LEARNER)
    content = course(backend, "CPR Basics", "CPR")
    run(backend, c.SetCodeValidity("CPR", 12))
    complete(backend, content, date(2023, 3, 1))
    complete(backend, content, date(2025, 2, 20))
    complete(backend, content, date(2024, 2, 29), username=OTHER_LEARNER)
    return content


async def test_set_code_validity_answers_with_the_period_and_its_history(
    client: GraphQLClient, server: Server
) -> None:
    run(server.backend, c.CreateCode("CPR"))
    data = await client.data(
        'mutation { setCodeValidity(input: {code: "cpr", months: 24}) { '
        "code { code validityMonths validityChanges { changedBy oldMonths "
        f"newMonths }} }} {ERRORS} }} }}"
    )
    assert data["setCodeValidity"] == {
        "code": {
            "code": "CPR",
            "validityMonths": 24,
            "validityChanges": [
                {"changedBy": "admin", "oldMonths": None, "newMonths": 24}
            ],
        },
        "userErrors": [],
    }


async def test_a_bad_period_is_a_user_error_that_changes_nothing(
    client: GraphQLClient, server: Server
) -> None:
    run(server.backend, c.CreateCode("CPR"))
    data = await client.data(
        'mutation { setCodeValidity(input: {code: "CPR", months: 0}) { '
        f"code {{ code }} {ERRORS} }} }}"
    )
    assert data["setCodeValidity"] == {
        "code": None,
        "userErrors": [
            {
                "code": "INVALID_INPUT",
                "field": "months",
                "message": "A validity period is 1 to 600 months, or null for a "
                "qualification that never expires; got 0.",
            }
        ],
    }
    code = await client.data('{ code(code: "CPR") { validityMonths } }')
    assert code == {"code": {"validityMonths": None}}


async def test_records_show_their_expiry_and_status_on_any_day(
    client: GraphQLClient, cpr: str
) -> None:
    data = await client.data(
        '{ trainingRecords(username: "alice") { nodes { completionDate expiresOn '
        'status today: status(on: "2025-03-10") '
        'then: status(on: "2024-02-20") before: status(on: "2023-01-01") } } }'
    )
    assert data["trainingRecords"]["nodes"] == [
        {
            "completionDate": "2025-02-20",
            "expiresOn": "2026-02-20",
            "status": "VALID",
            "today": "VALID",
            # Not completed yet on that day.
            "then": None,
            "before": None,
        },
        {
            "completionDate": "2023-03-01",
            "expiresOn": "2024-03-01",
            "status": "EXPIRED",
            "today": "EXPIRED",
            "then": "EXPIRING",
            "before": None,
        },
    ]


async def test_was_she_certified_on_a_given_day(
    client: GraphQLClient, cpr: str
) -> None:
    query = (
        'query($on: Date) { certificate(username: "alice", code: "CPR", on: $on) '
        "{ username code completionDate expiresOn status } }"
    )
    assert (await client.data(query, {"on": "2024-03-05"}))["certificate"] == {
        "username": LEARNER,
        "code": "CPR",
        "completionDate": "2023-03-01",
        "expiresOn": "2024-03-01",
        "status": "EXPIRED",
    }
    assert (await client.data(query, {"on": "2023-06-01"}))["certificate"][
        "status"
    ] == "VALID"
    assert (await client.data(query))["certificate"]["completionDate"] == ("2025-02-20")
    assert (await client.data(query, {"on": "2020-01-01"}))["certificate"] is None


async def test_the_expiration_report_pages_soonest_first(
    client: GraphQLClient, cpr: str
) -> None:
    query = (
        "query($status: CertificateStatus, $after: String) { certificateExpirations("
        "status: $status, first: 1, after: $after) { totalCount pageInfo { "
        "hasNextPage endCursor } nodes { username expiresOn status } } }"
    )
    first = (await client.data(query))["certificateExpirations"]
    assert first["totalCount"] == 2
    assert first["nodes"] == [
        {"username": OTHER_LEARNER, "expiresOn": "2025-02-28", "status": "EXPIRED"}
    ]
    after = first["pageInfo"]["endCursor"]
    second = (await client.data(query, {"after": after}))["certificateExpirations"]
    assert second["nodes"] == [
        {"username": LEARNER, "expiresOn": "2026-02-20", "status": "VALID"}
    ]
    assert second["pageInfo"]["hasNextPage"] is False

    expired = await client.data(query, {"status": "EXPIRED"})
    assert [n["username"] for n in expired["certificateExpirations"]["nodes"]] == [
        OTHER_LEARNER
    ]


async def test_learners_cannot_read_the_report_or_its_export(
    client: GraphQLClient, server: Server, cpr: str
) -> None:
    alice = client.as_user(LEARNER, Role.LEARNER)
    response = await alice.post("{ certificateExpirations { totalCount } }")
    body = response.json()
    assert body["data"] is None
    assert body["errors"][0]["extensions"]["code"] == "FORBIDDEN"

    other = await alice.post('{ certificate(username: "bob", code: "CPR") { status } }')
    assert other.json()["errors"][0]["extensions"]["code"] == "FORBIDDEN"
    own = await alice.data('{ certificate(username: "alice", code: "CPR") { status } }')
    assert own == {"certificate": {"status": "VALID"}}

    csv_response = await _get(server, server.token(LEARNER, Role.LEARNER))
    assert csv_response.status_code == 403
    assert csv_response.json()["errors"][0]["extensions"]["code"] == "FORBIDDEN"


async def test_validity_impact_counts_who_would_expire_or_come_back(
    client: GraphQLClient, cpr: str
) -> None:
    query = (
        'query($months: Int) { validityImpact(code: "CPR", months: $months) { '
        "code currentMonths newMonths on learners expiredNow expiredAfter "
        "expiringAfter wouldExpire wouldBecomeValid } }"
    )
    longer = (await client.data(query, {"months": 24}))["validityImpact"]
    assert longer == {
        "code": "CPR",
        "currentMonths": 12,
        "newMonths": 24,
        "on": "2025-03-10",
        "learners": 2,
        "expiredNow": 1,
        "expiredAfter": 0,
        "expiringAfter": 0,
        "wouldExpire": 0,
        "wouldBecomeValid": 1,
    }
    # One month: alice's renewal of 2025-02-20 would end on 2025-03-20.
    shorter = (await client.data(query, {"months": 1}))["validityImpact"]
    assert (shorter["expiredAfter"], shorter["expiringAfter"]) == (1, 1)
    assert (shorter["wouldExpire"], shorter["wouldBecomeValid"]) == (0, 0)
    never = (await client.data(query, {"months": None}))["validityImpact"]
    assert (never["expiredAfter"], never["wouldBecomeValid"]) == (0, 1)

    bad = await client.post(query, {"months": 601})
    (error,) = bad.json()["errors"]
    assert error["extensions"]["code"] == "INVALID_INPUT"
    assert error["message"] == (
        "A validity period is 1 to 600 months, or null for a qualification that "
        "never expires; got 601."
    )


async def test_path_progress_on_a_day_names_the_steps_that_expired(
    client: GraphQLClient, server: Server, cpr: str
) -> None:
    backend = server.backend
    course(backend, "First Aid", "FIRSTAID")
    run(
        backend,
        c.CreateLearningPath(
            "SAFETY",
            "Safety",
            steps=(c.StepInput("CPR", "CPR", 10), c.StepInput("FIRSTAID", "Aid", 10)),
        ),
    )
    run(backend, c.JoinPath("SAFETY", OTHER_LEARNER))
    query = (
        'query($on: Date) { pathProgress(pathCode: "SAFETY", username: "bob", '
        "on: $on) { measuredOn pointsEarned expiredSteps { code } missingSteps "
        '{ code } } learningPath(code: "SAFETY") { countsExpired } }'
    )
    today = await client.data(query)
    assert today["pathProgress"] == {
        "measuredOn": "2025-03-10",
        "pointsEarned": 0,
        "expiredSteps": [{"code": "CPR"}],
        "missingSteps": [{"code": "CPR"}, {"code": "FIRSTAID"}],
    }
    assert today["learningPath"] == {"countsExpired": False}
    earlier = await client.data(query, {"on": "2024-12-01"})
    assert earlier["pathProgress"]["pointsEarned"] == 10
    assert earlier["pathProgress"]["expiredSteps"] == []

    switched = await client.data(
        'mutation { setPathCountsExpired(input: {pathCode: "SAFETY", '
        f"countsExpired: true}}) {{ learningPath {{ countsExpired }} {ERRORS} }} }}"
    )
    assert switched["setPathCountsExpired"] == {
        "learningPath": {"countsExpired": True},
        "userErrors": [],
    }
    assert (await client.data(query))["pathProgress"]["pointsEarned"] == 10


async def _get(
    server: Server, token: str, params: dict[str, str] | None = None
) -> httpx.Response:
    async with httpx.AsyncClient(timeout=30) as http:
        return await http.get(
            f"{server.url}{EXPIRATIONS_PATH}",
            params=params,
            headers={"Authorization": f"Bearer {token}"},
        )


def _rows(response: httpx.Response) -> list[dict[str, Any]]:
    assert response.status_code == 200, response.text
    text = response.content.decode("utf-8")
    assert text.startswith("\ufeff")
    return list(csv.DictReader(io.StringIO(text[1:], newline="")))


async def test_the_report_exports_as_csv_with_its_filters(
    client: GraphQLClient, server: Server, cpr: str
) -> None:
    url = await client.data(
        '{ certificateExpirationsExportUrl(status: EXPIRED, code: "cpr") }'
    )
    assert url["certificateExpirationsExportUrl"] == (
        f"{EXPIRATIONS_PATH}?status=EXPIRED&code=CPR"
    )

    everything = _rows(await _get(server, server.token()))
    assert everything == [
        {
            "Username": OTHER_LEARNER,
            "Email": "bob@example.com",
            "Firstname": "Bob",
            "Lastname": "Test",
            "Code": "CPR",
            "Record ID": everything[0]["Record ID"],
            "Completion Date": "2024-02-29",
            "Expires On": "2025-02-28",
            "Status": "EXPIRED",
        },
        {
            "Username": LEARNER,
            "Email": "alice@example.com",
            "Firstname": "Alice",
            "Lastname": "Test",
            "Code": "CPR",
            "Record ID": everything[1]["Record ID"],
            "Completion Date": "2025-02-20",
            "Expires On": "2026-02-20",
            "Status": "VALID",
        },
    ]
    valid = _rows(await _get(server, server.token(), {"status": "valid"}))
    assert [row["Username"] for row in valid] == [LEARNER]
    before = _rows(await _get(server, server.token(), {"before": "2025-03-01"}))
    assert [row["Username"] for row in before] == [OTHER_LEARNER]


@pytest.mark.parametrize(
    ("params", "field", "message"),
    [
        ({"status": "LAPSED"}, "status", "status must be VALID, EXPIRING or EXPIRED."),
        ({"before": "2025-02-30"}, "before", "before must be a date, YYYY-MM-DD."),
        ({"code": "NOSUCH"}, "code", "There is no qualification code NOSUCH."),
        (
            {"username": "alice"},
            "username",
            "Unknown filter 'username'; use status, before, code.",
        ),
    ],
)
async def test_a_bad_export_filter_is_refused_by_name(
    server: Server, cpr: str, params: dict[str, str], field: str, message: str
) -> None:
    response = await _get(server, server.token(), params)
    assert response.status_code in (400, 404)
    (error,) = response.json()["errors"]
    assert error["message"] == message
    assert error["extensions"]["field"] == field


async def test_leaving_months_out_is_refused_rather_than_read_as_never(
    client: GraphQLClient, server: Server, cpr: str
) -> None:
    message = (
        "Give months: a number of months from 1 to 600, or null for a "
        "qualification that never expires."
    )
    data = await client.data(
        f'mutation {{ setCodeValidity(input: {{code: "CPR"}}) {{ {ERRORS} }} }}'
    )
    assert data["setCodeValidity"]["userErrors"] == [
        {"code": "INVALID_INPUT", "field": "months", "message": message}
    ]
    code = await client.data('{ code(code: "CPR") { validityMonths } }')
    assert code == {"code": {"validityMonths": 12}}

    response = await client.post('{ validityImpact(code: "CPR") { learners } }')
    (error,) = response.json()["errors"]
    assert (error["message"], error["extensions"]["code"]) == (
        message,
        "INVALID_INPUT",
    )


def _cursor(*parts: str) -> str:
    text = json.dumps(list(parts)).encode()
    return base64.urlsafe_b64encode(text).decode().rstrip("=")


@pytest.mark.parametrize(
    ("query", "cursor"),
    [
        (
            "query($after: String) { certificateExpirations(after: $after) "
            "{ totalCount } }",
            _cursor("certificate", "2024-01-01", "\u0000"),
        ),
        (
            "query($after: String) { trainingRecords(after: $after) { totalCount } }",
            _cursor("record", "2024-01-01", "\u0000"),
        ),
        (
            "query($after: String) { codes(after: $after) { totalCount } }",
            _cursor("code", "A\u0000"),
        ),
        (
            'query($after: String) { learningPath(code: "SAFETY") { participants('
            "after: $after) { totalCount } } }",
            _cursor("participant", "\u001f"),
        ),
    ],
    ids=["expirations", "records", "codes", "participants"],
)
async def test_a_cursor_holding_a_control_character_is_refused_on_every_store(
    client: GraphQLClient, server: Server, cpr: str, query: str, cursor: str
) -> None:
    run(
        server.backend,
        c.CreateLearningPath("SAFETY", "Safety", steps=(c.StepInput("CPR", "CPR", 1),)),
    )
    response = await client.post(query, {"after": cursor})
    (error,) = response.json()["errors"]
    assert error["extensions"]["code"] == "BAD_USER_INPUT"
    assert error["extensions"]["field"] == "after"


async def test_a_search_holding_a_control_character_is_refused(
    client: GraphQLClient,
) -> None:
    response = await client.post(
        "query($s: String) { codes(search: $s) { totalCount } }", {"s": "A\u0000"}
    )
    (error,) = response.json()["errors"]
    assert error["message"] == (
        "A search cannot hold the control or invisible character U+0000."
    )
    assert error["extensions"]["field"] == "search"


async def test_empty_export_filters_are_no_filters_and_repeats_are_refused(
    server: Server, cpr: str
) -> None:
    blank = _rows(
        await _get(server, server.token(), {"status": "", "before": "", "code": ""})
    )
    assert [row["Username"] for row in blank] == [OTHER_LEARNER, LEARNER]

    async with httpx.AsyncClient(timeout=30) as http:
        repeated = await http.get(
            f"{server.url}{EXPIRATIONS_PATH}?status=EXPIRED&status=VALID",
            headers={"Authorization": f"Bearer {server.token()}"},
        )
    assert repeated.status_code == 400
    assert repeated.json()["errors"][0]["message"] == "Give the status filter once."

    compact = await _get(server, server.token(), {"before": "20250101"})
    assert compact.status_code == 400
    assert compact.json()["errors"][0]["message"] == (
        "before must be a date, YYYY-MM-DD."
    )
