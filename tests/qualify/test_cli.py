from __future__ import annotations

import asyncio
import gc
import socket
from datetime import timedelta

import jwt
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from domain.principal import Principal, Role
from graph.auth import ALGORITHM, AUDIENCE, TokenKeys, principal_from_header
from qualify.cli import _bind, _settle_heap, main
from qualify.config import DEVELOPMENT_SECRET, Settings

SECRET = "a-test-secret-that-is-long-enough-0123456789"


@pytest.fixture(autouse=True)
def environment(monkeypatch):
    # The developer's own QUALIFY_* settings must not leak into these tests.
    for name in (
        "QUALIFY_ENV",
        "QUALIFY_JWT_SECRET",
        "QUALIFY_JWT_PUBLIC_KEY",
        "QUALIFY_DATABASE_URL",
    ):
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


@pytest.fixture(scope="module")
def rsa_key() -> rsa.RSAPrivateKey:
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


def _public_pem(key: rsa.RSAPrivateKey) -> str:
    return (
        key.public_key()
        .public_bytes(
            serialization.Encoding.PEM,
            serialization.PublicFormat.SubjectPublicKeyInfo,
        )
        .decode()
    )


def test_token_with_a_private_key_is_rs256(capsys, monkeypatch, tmp_path, rsa_key):
    path = tmp_path / "idp.pem"
    path.write_bytes(
        rsa_key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    monkeypatch.setenv("QUALIFY_JWT_PUBLIC_KEY", _public_pem(rsa_key))

    status = main(
        [
            "token",
            "--user",
            "priya.patel",
            "--role",
            "learner",
            "--private-key",
            str(path),
        ]
    )

    token = capsys.readouterr().out.strip()
    assert status == 0
    assert jwt.get_unverified_header(token)["alg"] == "RS256"
    keys = TokenKeys.from_settings(Settings.from_environment())
    assert principal_from_header(keys, f"Bearer {token}") == Principal(
        "priya.patel", Role.LEARNER
    )


def test_token_with_a_file_that_is_not_a_private_key_exits_2(capsys, tmp_path):
    path = tmp_path / "not-a-key.pem"
    path.write_text("hello")

    status = main(
        ["token", "--user", "alice", "--role", "admin", "--private-key", str(path)]
    )

    assert status == 2
    assert capsys.readouterr().err == (
        f"qualify: {path} is not an RSA private key in PEM form.\n"
    )


def test_token_with_a_public_key_by_mistake_exits_2(capsys, tmp_path, rsa_key):
    path = tmp_path / "idp.pub"
    path.write_text(_public_pem(rsa_key))

    status = main(
        ["token", "--user", "alice", "--role", "admin", "--private-key", str(path)]
    )

    assert status == 2
    assert capsys.readouterr().err == (
        f"qualify: {path} is not an RSA private key in PEM form.\n"
    )


def test_token_with_a_missing_private_key_exits_2(capsys, tmp_path):
    path = tmp_path / "missing.pem"

    status = main(
        ["token", "--user", "alice", "--role", "admin", "--private-key", str(path)]
    )

    assert status == 2
    assert capsys.readouterr().err == f"qualify: cannot read the private key {path}.\n"


def test_token_without_a_secret_when_only_rs256_is_accepted_exits_2(
    capsys, monkeypatch, rsa_key
):
    monkeypatch.setenv("QUALIFY_JWT_PUBLIC_KEY", _public_pem(rsa_key))

    status = main(["token", "--user", "alice", "--role", "admin"])

    assert status == 2
    assert capsys.readouterr().err == (
        "qualify: QUALIFY_JWT_SECRET is not set, so no HS256 token would be "
        "accepted; pass --private-key FILE for an RS256 one.\n"
    )


def test_serve_on_a_port_in_use_says_so_before_any_banner(capsys, monkeypatch):
    monkeypatch.setenv("QUALIFY_DATABASE_URL", "memory://")
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]

        status = main(["serve", "--host", "127.0.0.1", "--port", str(port)])

    err = capsys.readouterr().err
    assert status == 1
    assert err == (
        f"qualify: cannot listen on 127.0.0.1:{port}: Address already in use; "
        "choose another with --host or --port.\n"
    )


@pytest.mark.parametrize("host", ["127.0.0.1", "::1"])
async def test_the_served_socket_sends_small_writes_at_once(host):
    # A response's headers and body are two writes; with Nagle's algorithm on,
    # the body waited for the client's delayed acknowledgement on a kept-alive
    # connection. asyncio turns it off only on sockets that say they are TCP.
    try:
        listening = _bind(host, 0)
    except OSError as error:
        pytest.skip(f"no {host} on this machine: {error}")
    accepted: asyncio.Queue[int] = asyncio.Queue()

    class Note(asyncio.Protocol):
        def connection_made(self, transport: asyncio.BaseTransport) -> None:
            sock = transport.get_extra_info("socket")
            accepted.put_nowait(sock.getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY))
            transport.close()

    loop = asyncio.get_running_loop()
    server = await loop.create_server(Note, sock=listening)
    try:
        port = listening.getsockname()[1]
        _, writer = await asyncio.open_connection(host, port)
        no_delay = await asyncio.wait_for(accepted.get(), timeout=5)
        writer.close()
    finally:
        server.close()
        await server.wait_closed()

    assert listening.proto == socket.IPPROTO_TCP
    assert no_delay != 0


def test_what_start_up_built_is_left_out_of_later_collections():
    gc.unfreeze()
    try:
        built = [object() for _ in range(3)] + [[] for _ in range(3)]
        _settle_heap()

        frozen = gc.get_freeze_count()
        # Lists are tracked by the collector; after the freeze they are not in
        # any generation a collection walks.
        tracked = {id(o) for generation in range(3) for o in gc.get_objects(generation)}
    finally:
        gc.unfreeze()

    assert frozen > 0
    assert not any(id(o) in tracked for o in built[3:])
