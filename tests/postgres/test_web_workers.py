"""Two web workers and a projection worker on one store: a write on one is read on
the other.

A web worker on PostgreSQL does not run projections: it stores a command's events,
then waits until the projection worker has applied them before it answers, so a
query that reaches any other web worker afterwards sees the write.
"""

from __future__ import annotations

import socket
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import httpx
import pytest

from tests.postgres.conftest import (
    QUALIFY,
    Process,
    Spawn,
    qualify_env,
    wait_until,
)

pytestmark = pytest.mark.slow

READY_SECONDS = 20.0

CREATE_CODE = """
mutation($code: String!, $description: String!) {
  createCode(input: {code: $code, description: $description}) {
    code { code description } userErrors { code message }
  }
}"""
CODE = """
query($code: String!) {
  code(code: $code) { code description activeRecordCount inUse }
}"""
CREATE_COURSE = """
mutation {
  createCourse(input: {title: "Fire safety", code: "FIRE"}) {
    content { id code } userErrors { code message }
  }
}"""
REGISTER = """
mutation {
  registerUser(input: {username: "lena", email: "lena@example.com",
    firstName: "Lena", lastName: "Park"}) { userErrors { code message } }
}"""
COMPLETE = """
mutation($id: ID!) {
  completeContent(input: {contentId: $id, username: "lena",
    completionDate: "2024-03-01"}) {
    trainingRecord { recordId code } userErrors { code message }
  }
}"""
RECORDS = """
query {
  trainingRecords(username: "lena") {
    totalCount nodes { recordId recordType title code completionDate }
  }
}"""


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def token(user: str, role: str) -> str:
    """A bearer token from ``qualify token``, signed with the development secret."""
    done = subprocess.run(
        [str(QUALIFY), "token", "--user", user, "--role", role],
        env=qualify_env(),
        capture_output=True,
        text=True,
        timeout=30,
        check=True,
    )
    return done.stdout.strip()


@dataclass
class Web:
    """One ``qualify serve`` process and a client for it."""

    process: Process
    url: str
    http: httpx.Client

    def data(self, query: str, token: str, **variables: Any) -> Any:
        response = self.http.post(
            f"{self.url}/graphql",
            json={"query": query, "variables": variables},
            headers={"Authorization": f"Bearer {token}"},
        )
        assert response.status_code == 200, response.text
        body = response.json()
        assert "errors" not in body, body["errors"]
        return body["data"]

    def ready(self) -> bool:
        if self.process.popen.poll() is not None:
            pytest.fail(f"{self.process.name} exited:\n{self.process.output()}")
        try:
            return self.http.get(f"{self.url}/health").status_code == 200
        except httpx.TransportError:
            return False


@pytest.fixture
def webs(pg_url: str, spawn: Spawn) -> Iterator[tuple[Web, Web]]:
    """Servers A and B behind one store, with one projection worker."""
    spawn(pg_url, "worker", "projections", "run")
    with httpx.Client(timeout=30) as http:
        started = []
        for role in ("web-a", "web-b"):
            port = free_port()
            process = spawn(pg_url, role, "serve", "--port", str(port))
            started.append(Web(process, f"http://127.0.0.1:{port}", http))
        for web in started:
            wait_until(
                web.ready,
                READY_SECONDS,
                lambda web=web: (
                    f"{web.process.name} never became ready:\n" + web.process.output()
                ),
            )
        yield started[0], started[1]


def test_a_code_created_on_one_web_worker_is_read_at_once_on_the_other(
    webs: tuple[Web, Web],
) -> None:
    a, b = webs
    admin = token("admin", "admin")

    for i in range(6):
        # Alternate the direction: A writes and B reads, then B writes and A reads.
        writer, reader = (a, b) if i % 2 == 0 else (b, a)
        code, description = f"XW{i}", f"Written on {writer.process.name}"

        created = writer.data(CREATE_CODE, admin, code=code, description=description)
        read = reader.data(CODE, admin, code=code)

        assert created["createCode"] == {
            "code": {"code": code, "description": description},
            "userErrors": [],
        }
        assert read["code"] == {
            "code": code,
            "description": description,
            "activeRecordCount": 0,
            "inUse": False,
        }


def test_a_completion_on_one_web_worker_is_in_the_learners_records_on_the_other(
    webs: tuple[Web, Web],
) -> None:
    a, b = webs
    admin, lena = token("admin", "admin"), token("lena", "learner")
    course = a.data(CREATE_COURSE, admin)["createCourse"]
    assert course["userErrors"] == []
    assert a.data(REGISTER, admin)["registerUser"]["userErrors"] == []

    completed = a.data(COMPLETE, admin, id=course["content"]["id"])
    records = b.data(RECORDS, lena)

    record = completed["completeContent"]["trainingRecord"]
    assert completed["completeContent"]["userErrors"] == []
    assert record["code"] == "FIRE"
    assert records["trainingRecords"] == {
        "totalCount": 1,
        "nodes": [
            {
                "recordId": record["recordId"],
                "recordType": "COURSE",
                "title": "Fire safety",
                "code": "FIRE",
                "completionDate": "2024-03-01",
            }
        ],
    }
    assert b.data(CODE, admin, code="FIRE")["code"]["activeRecordCount"] == 1
