from __future__ import annotations

from datetime import timedelta

import jwt
import pytest

from domain.principal import Principal, Role
from graph.auth import ALGORITHM, AUDIENCE, principal_from_header
from qualify.cli import main
from qualify.config import DEVELOPMENT_SECRET

SECRET = "a-test-secret-that-is-long-enough-0123456789"


@pytest.fixture(autouse=True)
def environment(monkeypatch):
    # The developer's own QUALIFY_* settings must not leak into these tests.
    for name in ("QUALIFY_ENV", "QUALIFY_JWT_SECRET", "QUALIFY_DATABASE_URL"):
        monkeypatch.delenv(name, raising=False)


def test_token_prints_one_token_for_the_user_and_role(capsys):
    status = main(["token", "--user", "alice", "--role", "learner"])

    out = capsys.readouterr().out
    assert status == 0
    assert out.endswith("\n")
    assert len(out.splitlines()) == 1
    principal = principal_from_header(DEVELOPMENT_SECRET, f"Bearer {out.strip()}")
    assert principal == Principal("alice", Role.LEARNER)


def test_token_is_signed_with_the_configured_secret(capsys, monkeypatch):
    monkeypatch.setenv("QUALIFY_JWT_SECRET", SECRET)

    assert main(["token", "--user", "Bob", "--role", "ADMIN", "--hours", "2"]) == 0

    token = capsys.readouterr().out.strip()
    assert principal_from_header(SECRET, f"Bearer {token}") == Principal(
        "bob", Role.ADMIN
    )
    claims = jwt.decode(token, SECRET, algorithms=[ALGORITHM], audience=AUDIENCE)
    assert claims["exp"] - claims["iat"] == timedelta(hours=2).total_seconds()


@pytest.mark.parametrize(
    "arguments",
    [
        ["--user", "alice", "--role", "superuser"],
        ["--user", "not a name", "--role", "learner"],
        ["--user", "alice", "--role", "learner", "--hours", "0"],
        ["--user", "alice", "--role", "learner", "--hours", "999999999999"],
    ],
)
def test_bad_token_requests_exit_2_with_one_line(capsys, arguments):
    status = main(["token", *arguments])

    captured = capsys.readouterr()
    assert status == 2
    assert captured.out == ""
    assert len(captured.err.strip().splitlines()) == 1
    assert captured.err.startswith("qualify: ")


def test_a_bad_setting_exits_2_without_a_traceback(capsys, monkeypatch):
    monkeypatch.setenv("QUALIFY_JWT_SECRET", "short")

    status = main(["token", "--user", "alice", "--role", "learner"])

    captured = capsys.readouterr()
    assert status == 2
    assert captured.out == ""
    assert "QUALIFY_JWT_SECRET" in captured.err
    assert "Traceback" not in captured.err


def test_a_missing_subcommand_is_a_usage_error(capsys):
    with pytest.raises(SystemExit) as exit:
        main([])

    assert exit.value.code == 2
    assert "usage: qualify" in capsys.readouterr().err
