"""Every role against every query and mutation, over HTTP: allowed or refused.

One server serves the whole matrix. Users: root (admin), mia (manager of alice),
alice (learner), audrey (auditor) and ana (analyst); bob is a learner nobody here
manages. Each operation is tried by every role, admin last, since an admin's
success may use up what the operation needs (a record to delete, a free name).
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from typing import Any

import httpx
import pytest

from domain import commands as c
from domain.principal import SYSTEM, Right, Role
from graph.exports import EXPIRATIONS_PATH, EXPORT_PATH
from qualify.bootstrap import build
from qualify.config import Settings
from tests.csv_support import csv_file, import_row, upload
from tests.graph.conftest import Server, serve
from tests.support import LEARNER, OTHER_LEARNER, complete, load_seed, register, value

ROLES = (Role.LEARNER, Role.AUDITOR, Role.ANALYST, Role.MANAGER, Role.ADMIN)
USERS = {
    Role.LEARNER: LEARNER,
    Role.AUDITOR: "audrey",
    Role.ANALYST: "ana",
    Role.MANAGER: "mia",
    Role.ADMIN: "root",
}
EVERYONE = frozenset(ROLES)
REPORTS = frozenset({Role.ADMIN, Role.MANAGER, Role.AUDITOR, Role.ANALYST})
ALL_RECORDS = frozenset({Role.ADMIN, Role.AUDITOR, Role.ANALYST})
ADMIN = frozenset({Role.ADMIN})
CONTENT = frozenset({Role.ADMIN, Role.MANAGER})
ALICE_EDITORS = frozenset({Role.ADMIN, Role.MANAGER})


@dataclass(frozen=True)
class World:
    server: Server
    ids: dict[str, str] = field(default_factory=dict)


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    path: Path = tmp_path_factory.mktemp("matrix") / "q.db"
    backend = build(Settings(database_url=f"sqlite:///{path}"), follow=True)
    seed = load_seed(backend)
    for username in ("audrey", "ana", "mia", "root"):
        register(backend, username)
    backend.handle(c.SetManager(LEARNER, "mia"), SYSTEM)
    for username in (LEARNER, OTHER_LEARNER):
        backend.handle(c.JoinPath(seed.path, username), SYSTEM)
    backend.handle(c.GrantRight("carl", Right.VIEW_REPORTS), SYSTEM)
    backend.handle(c.CreateCode("CPR"), SYSTEM)
    backend.handle(c.CreateCode("TORENAME"), SYSTEM)
    backend.handle(c.CreateCode("TODELETE"), SYSTEM)
    complete(backend, seed.course, date(2024, 5, 1))
    complete(backend, seed.course, date(2024, 5, 1), username=OTHER_LEARNER)
    bobs = value(
        backend, c.AddTrainingRecord(OTHER_LEARNER, "First aid", date(2024, 1, 2))
    )
    try:
        for server in serve(backend):
            yield World(server, {"course": seed.course, "bobs": bobs})
    finally:
        backend.close()


@dataclass(frozen=True)
class Operation:
    name: str
    document: str
    allowed: frozenset[Role]

    def for_role(self, role: Role, ids: dict[str, str]) -> str:
        return self.document.format(role=role.name, n=ROLES.index(role) + 1, **ids)


OPERATIONS = [
    # Queries
    Operation("codes", "{{ codes {{ totalCount }} }}", EVERYONE),
    Operation("code", '{{ code(code: "CLAESS") {{ code }} }}', EVERYONE),
    Operation("content", '{{ content(contentId: "{course}") {{ title }} }}', EVERYONE),
    Operation(
        "learningPath", '{{ learningPath(code: "CLABEG") {{ title }} }}', EVERYONE
    ),
    Operation(
        "participants",
        '{{ learningPath(code: "CLABEG") {{ participants {{ totalCount }} }} }}',
        REPORTS,
    ),
    Operation(
        "own progress",
        '{{ pathProgress(pathCode: "CLABEG", username: "alice") {{ percent }} }}',
        EVERYONE,
    ),
    Operation(
        "bob's progress",
        '{{ pathProgress(pathCode: "CLABEG", username: "bob") {{ percent }} }}',
        ALL_RECORDS,
    ),
    Operation(
        "alice's records",
        '{{ trainingRecords(username: "alice") {{ totalCount }} }}',
        EVERYONE,
    ),
    Operation(
        "bob's records",
        '{{ trainingRecords(username: "bob") {{ totalCount }} }}',
        ALL_RECORDS,
    ),
    Operation("records in reach", "{{ trainingRecords {{ totalCount }} }}", EVERYONE),
    Operation(
        "bob's certificate",
        '{{ certificate(username: "bob", code: "CLAESS") {{ status }} }}',
        ALL_RECORDS,
    ),
    Operation(
        "alice's certificate",
        '{{ certificate(username: "alice", code: "CLAESS") {{ status }} }}',
        EVERYONE,
    ),
    Operation(
        "expiration report",
        "{{ certificateExpirations {{ totalCount }} }}",
        REPORTS,
    ),
    Operation(
        "expiration export url", "{{ certificateExpirationsExportUrl }}", REPORTS
    ),
    Operation(
        "bob's export url",
        '{{ trainingRecordsExportUrl(username: "bob") }}',
        ALL_RECORDS,
    ),
    Operation(
        "course activity",
        '{{ courseActivity(contentId: "{course}") {{ completions }} }}',
        REPORTS,
    ),
    Operation(
        "rename impact",
        '{{ renameImpact(code: "CLAESS") {{ learnerCount }} }}',
        CONTENT,
    ),
    Operation(
        "validity impact",
        '{{ validityImpact(code: "CLAESS", months: 12) {{ learners }} }}',
        ADMIN,
    ),
    Operation("own permissions", "{{ permissions {{ rights }} }}", EVERYONE),
    Operation(
        "validity history",
        '{{ code(code: "CPR") {{ validityChanges {{ changedBy }} }} }}',
        frozenset({Role.ADMIN, Role.AUDITOR}),
    ),
    Operation(
        "bob's permissions",
        '{{ permissions(username: "bob") {{ rights }} }}',
        ADMIN,
    ),
    # Mutations
    Operation(
        "createCode",
        'mutation {{ createCode(input: {{code: "NEW{role}"}}) {{ userErrors '
        "{{ code }} }} }}",
        ADMIN,
    ),
    Operation(
        "updateCodeDescription",
        'mutation {{ updateCodeDescription(input: {{code: "CPR", description: '
        '"by {role}"}}) {{ userErrors {{ code }} }} }}',
        ADMIN,
    ),
    Operation(
        "setCodeValidity",
        'mutation {{ setCodeValidity(input: {{code: "CPR", months: {n}}}) '
        "{{ userErrors {{ code }} }} }}",
        ADMIN,
    ),
    Operation(
        "renameCode",
        'mutation {{ renameCode(input: {{code: "TORENAME", newCode: "RENAMED"}}) '
        "{{ userErrors {{ code }} }} }}",
        ADMIN,
    ),
    Operation(
        "deleteCode",
        'mutation {{ deleteCode(input: {{code: "TODELETE"}}) {{ userErrors '
        "{{ code }} }} }}",
        ADMIN,
    ),
    Operation(
        "createCourse",
        'mutation {{ createCourse(input: {{title: "Course {role}", code: '
        '"COURSE{role}"}}) {{ userErrors {{ code }} }} }}',
        CONTENT,
    ),
    Operation(
        "createQuiz",
        'mutation {{ createQuiz(input: {{title: "Quiz {role}", passMark: 80}}) '
        "{{ userErrors {{ code }} }} }}",
        CONTENT,
    ),
    Operation(
        "createTrainingEvent",
        'mutation {{ createTrainingEvent(input: {{title: "Event {role}", sessions: '
        '[{{startsAt: "2025-01-01T10:00:00+00:00"}}]}}) {{ userErrors {{ code }} }} }}',
        CONTENT,
    ),
    Operation(
        "setContentCode",
        'mutation {{ setContentCode(input: {{contentId: "{course}", code: '
        '"CLAESS"}}) {{ userErrors {{ code }} }} }}',
        CONTENT,
    ),
    Operation(
        "createLearningPath",
        'mutation {{ createLearningPath(input: {{code: "PATH{role}", title: '
        '"Path", steps: [{{code: "CLAESS", title: "Essentials", points: 20}}]}}) '
        "{{ userErrors {{ code }} }} }}",
        CONTENT,
    ),
    Operation(
        "setPathSteps",
        'mutation {{ setPathSteps(input: {{pathCode: "CLABEG", steps: '
        '[{{code: "CLAESS", title: "Claromentis Essentials", points: 20, '
        'mandatory: true}}, {{code: "CLARODROP", title: "Drop In Session", '
        'points: 10}}, {{code: "CLAROTAT", title: "Claromentis Tips and Tricks", '
        "points: 10}}]}}) {{ userErrors {{ code }} }} }}",
        CONTENT,
    ),
    Operation(
        "setPathCountsExpired",
        'mutation {{ setPathCountsExpired(input: {{pathCode: "CLABEG", '
        "countsExpired: false}}) {{ userErrors {{ code }} }} }}",
        CONTENT,
    ),
    Operation(
        "registerUser",
        'mutation {{ registerUser(input: {{username: "new{n}", email: '
        '"new{n}@example.com", firstName: "N", lastName: "U"}}) '
        "{{ userErrors {{ code }} }} }}",
        ADMIN,
    ),
    Operation(
        "join for oneself",
        'mutation {{ joinPath(input: {{pathCode: "CLABEG"}}) {{ userErrors '
        "{{ code }} }} }}",
        # Auditors and analysts read; they join and enrol for nobody.
        frozenset({Role.ADMIN, Role.MANAGER, Role.LEARNER}),
    ),
    Operation(
        "join alice",
        'mutation {{ joinPath(input: {{pathCode: "CLABEG", username: "alice"}}) '
        "{{ userErrors {{ code }} }} }}",
        ALICE_EDITORS | {Role.LEARNER},
    ),
    Operation(
        "join bob",
        'mutation {{ joinPath(input: {{pathCode: "CLABEG", username: "bob"}}) '
        "{{ userErrors {{ code }} }} }}",
        ADMIN,
    ),
    Operation(
        "enrol alice",
        'mutation {{ enrol(input: {{contentId: "{course}", username: "alice"}}) '
        "{{ userErrors {{ code }} }} }}",
        ALICE_EDITORS | {Role.LEARNER},
    ),
    Operation(
        "complete for alice",
        'mutation {{ completeContent(input: {{contentId: "{course}", username: '
        '"alice", completionDate: "2024-06-0{n}"}}) {{ userErrors {{ code }} }} }}',
        ALICE_EDITORS,
    ),
    Operation(
        "add bob's record",
        'mutation {{ addTrainingRecord(input: {{username: "bob", title: "T{n}", '
        'completionDate: "2024-02-02"}}) {{ userErrors {{ code }} }} }}',
        ADMIN,
    ),
    Operation(
        "add alice's record",
        'mutation {{ addTrainingRecord(input: {{username: "alice", title: "T{n}", '
        'completionDate: "2024-02-02"}}) {{ userErrors {{ code }} }} }}',
        ALICE_EDITORS,
    ),
    Operation(
        "update bob's record",
        'mutation {{ updateTrainingRecord(input: {{recordId: "{bobs}", title: '
        '"By {role}"}}) {{ userErrors {{ code }} }} }}',
        ADMIN,
    ),
    Operation(
        "delete bob's record",
        'mutation {{ deleteRecord(input: {{recordId: "{bobs}"}}) {{ userErrors '
        "{{ code }} }} }}",
        ADMIN,
    ),
    Operation(
        "assignRole",
        'mutation {{ assignRole(input: {{username: "bob", role: LEARNER}}) '
        "{{ userErrors {{ code }} }} }}",
        ADMIN,
    ),
    Operation(
        "grantRight",
        'mutation {{ grantRight(input: {{username: "bob", right: VIEW_REPORTS}}) '
        "{{ userErrors {{ code }} }} }}",
        ADMIN,
    ),
    Operation(
        "revokeRight",
        'mutation {{ revokeRight(input: {{username: "carl", right: VIEW_REPORTS}}) '
        "{{ userErrors {{ code }} }} }}",
        ADMIN,
    ),
    Operation(
        "setManager",
        'mutation {{ setManager(input: {{username: "bob", manager: "root"}}) '
        "{{ userErrors {{ code }} }} }}",
        ADMIN,
    ),
]


def _codes(body: dict[str, Any]) -> list[str]:
    """Every error code in a response: top-level errors and payloads' userErrors."""
    found = [e.get("extensions", {}).get("code") for e in body.get("errors") or []]
    for payload in (body.get("data") or {}).values():
        if isinstance(payload, dict):
            found += [e["code"] for e in payload.get("userErrors") or []]
    return found


@pytest.mark.parametrize("operation", OPERATIONS, ids=[o.name for o in OPERATIONS])
async def test_each_role_is_allowed_or_refused(
    world: World, operation: Operation
) -> None:
    server = world.server
    wrong: list[str] = []
    async with httpx.AsyncClient(timeout=30) as http:
        for role in ROLES:
            response = await http.post(
                f"{server.url}/graphql",
                json={"query": operation.for_role(role, world.ids)},
                headers={"Authorization": f"Bearer {server.token(USERS[role], role)}"},
            )
            assert response.status_code == 200, response.text
            codes = _codes(response.json())
            expected = [] if role in operation.allowed else ["FORBIDDEN"]
            if codes != expected:
                wrong.append(f"{role.value}: expected {expected}, got {codes}")
    assert wrong == []


@pytest.mark.parametrize(
    ("path", "params", "allowed"),
    [
        (EXPORT_PATH, {"username": "bob"}, ALL_RECORDS),
        (EXPORT_PATH, {"username": "alice"}, EVERYONE),
        (EXPIRATIONS_PATH, {}, REPORTS),
    ],
    ids=["bob's records", "alice's records", "expirations"],
)
async def test_each_role_may_export_or_is_refused(
    world: World, path: str, params: dict[str, str], allowed: frozenset[Role]
) -> None:
    server = world.server
    async with httpx.AsyncClient(timeout=30) as http:
        statuses = {
            role: (
                await http.get(
                    f"{server.url}{path}",
                    params=params,
                    headers={
                        "Authorization": f"Bearer {server.token(USERS[role], role)}"
                    },
                )
            ).status_code
            for role in ROLES
        }
    assert statuses == {role: 200 if role in allowed else 403 for role in ROLES}


async def test_lists_show_a_manager_only_their_subordinates_and_themselves(
    world: World,
) -> None:
    server = world.server
    query = (
        "{ trainingRecords(first: 100) { nodes { username } } "
        'learningPath(code: "CLABEG") { participants { nodes { username } } } }'
    )
    async with httpx.AsyncClient(timeout=30) as http:
        response = await http.post(
            f"{server.url}/graphql",
            json={"query": query},
            headers={"Authorization": f"Bearer {server.token('mia', Role.MANAGER)}"},
        )
    data = response.json()["data"]
    assert {n["username"] for n in data["trainingRecords"]["nodes"]} == {LEARNER}
    participants = {
        n["username"] for n in data["learningPath"]["participants"]["nodes"]
    }
    # mia is listed too once she has joined the path herself.
    assert LEARNER in participants
    assert participants <= {LEARNER, "mia"}


@pytest.mark.parametrize("role", [Role.MANAGER, Role.LEARNER])
async def test_a_reader_registered_as_no_learner_lists_no_records_of_their_own(
    world: World, role: Role
) -> None:
    server = world.server
    query = "{ trainingRecords(first: 2) { totalCount nodes { username } } }"
    async with httpx.AsyncClient(timeout=30) as http:
        response = await http.post(
            f"{server.url}/graphql",
            json={"query": query},
            headers={"Authorization": f"Bearer {server.token('nomad', role)}"},
        )
        export = await http.get(
            f"{server.url}{EXPORT_PATH}",
            headers={"Authorization": f"Bearer {server.token('nomad', role)}"},
        )

    assert response.json()["data"] == {
        "trainingRecords": {"totalCount": 0, "nodes": []}
    }
    assert export.status_code == 200
    assert export.text.count("\n") == 1


@pytest.mark.parametrize(
    ("name", "allowed"),
    [(LEARNER, ALICE_EDITORS), (OTHER_LEARNER, ADMIN)],
    ids=["alice's row", "bob's row"],
)
async def test_each_role_may_import_only_the_rows_it_may_change(
    world: World, name: str, allowed: frozenset[Role]
) -> None:
    server = world.server
    outcomes = {}
    for role in ROLES:
        data = csv_file(import_row(name=name, title=f"Imported by {role.value}"))
        token = server.token(USERS[role], role)
        body = (await upload(server.url, data, token)).json()
        payload = body["data"]["importTrainingRecords"]
        report = payload["report"]
        if report is None:
            outcomes[role] = [e["code"] for e in payload["userErrors"]]
        elif report["problems"]:
            outcomes[role] = [p["reason"] for p in report["problems"]]
        else:
            outcomes[role] = "applied" if report["applied"] else "not applied"
    expected = {}
    for role in ROLES:
        if role in allowed:
            expected[role] = "applied"
        elif role in (Role.LEARNER, Role.AUDITOR, Role.ANALYST):
            expected[role] = ["FORBIDDEN"]
        else:
            expected[role] = ["You may not change this user's training records"]
    assert outcomes == expected
