"""The syntax of a qualification code: 1 to 32 letters A-Z and digits 0-9."""

from __future__ import annotations

import pytest

from domain import commands as c
from domain.codes import normalise_code
from domain.errors import InvalidCode
from qualify.bootstrap import Backend
from tests.support import live_code_names, run


@pytest.mark.parametrize(
    ("typed", "stored"),
    [
        (" claess ", "CLAESS"),
        ("ClaEss", "CLAESS"),
        ("\tcpr\n", "CPR"),
        ("007", "007"),
        ("0", "0"),
        ("a" * 32, "A" * 32),
        ("eg012", "EG012"),
    ],
)
def test_create_code_stores_the_trimmed_upper_cased_code(
    backend: Backend, typed: str, stored: str
) -> None:
    outcome = run(backend, c.CreateCode(typed, "  A description  "))

    assert outcome.value == stored
    assert live_code_names(backend) == [stored]


def test_a_code_of_digits_stays_a_string_with_its_leading_zeros(
    backend: Backend,
) -> None:
    run(backend, c.CreateCode("007"))
    run(backend, c.CreateCode("7"))

    assert live_code_names(backend) == ["007", "7"]


@pytest.mark.parametrize(
    ("typed", "character", "position"),
    [
        ("CLA ESS", "U+0020 SPACE", 4),
        ("CLA-ESS", "'-' (U+002D HYPHEN-MINUS)", 4),
        ("CLA.ESS", "'.' (U+002E FULL STOP)", 4),
        ("CLA_ESS", "'_' (U+005F LOW LINE)", 4),
        ("CLA/", "'/' (U+002F SOLIDUS)", 4),
        ("\u0421LAESS", "'\u0421' (U+0421 CYRILLIC CAPITAL LETTER ES)", 1),
        ("CL\u0391ESS", "'\u0391' (U+0391 GREEK CAPITAL LETTER ALPHA)", 3),
        ("CLAESS\u200b", "U+200B ZERO WIDTH SPACE", 7),
        ("\u200bCLAESS", "U+200B ZERO WIDTH SPACE", 1),
        ("CLA\u00e9", "'\u00e9' (U+00E9 LATIN SMALL LETTER E WITH ACUTE)", 4),
        ("CL\u00a0A", "U+00A0 NO-BREAK SPACE", 3),
        ("\uff23LA", "'\uff23' (U+FF23 FULLWIDTH LATIN CAPITAL LETTER C)", 1),
    ],
)
def test_create_code_refuses_a_character_outside_a_z_and_0_9_naming_it(
    backend: Backend, typed: str, character: str, position: int
) -> None:
    with pytest.raises(InvalidCode) as refused:
        run(backend, c.CreateCode(typed))

    assert refused.value.code == "INVALID_CODE"
    assert refused.value.field == "code"
    assert character in refused.value.message
    assert f"at position {position} " in refused.value.message
    assert live_code_names(backend) == []


def test_the_position_of_a_bad_character_counts_from_the_input_as_typed() -> None:
    with pytest.raises(InvalidCode) as refused:
        normalise_code("  AB$")

    assert "'$' (U+0024 DOLLAR SIGN) at position 5 " in refused.value.message


@pytest.mark.parametrize(
    ("typed", "named"),
    [("AB\u200bC", "U+200B ZERO WIDTH SPACE"), ("AB C", "U+0020 SPACE")],
)
def test_invisible_characters_are_named_by_code_point_not_quoted(
    typed: str, named: str
) -> None:
    with pytest.raises(InvalidCode) as refused:
        normalise_code(typed)

    assert f"{named} at position 3 is not allowed" in refused.value.message
    assert f"'{typed[2]}'" not in refused.value.message


def test_a_code_of_32_characters_is_accepted(backend: Backend) -> None:
    code = "X" * 31 + "9"

    assert run(backend, c.CreateCode(code)).value == code


def test_a_code_of_33_characters_is_refused_with_its_length(backend: Backend) -> None:
    with pytest.raises(InvalidCode) as refused:
        run(backend, c.CreateCode("X" * 33))

    assert refused.value.code == "INVALID_CODE"
    assert "at most 32 characters; this one has 33" in refused.value.message
    assert live_code_names(backend) == []


def test_surrounding_spaces_do_not_count_towards_the_length(backend: Backend) -> None:
    assert run(backend, c.CreateCode("  " + "Y" * 32 + "  ")).value == "Y" * 32


@pytest.mark.parametrize("typed", ["", "   ", "\t\n"])
def test_an_empty_code_is_refused(backend: Backend, typed: str) -> None:
    with pytest.raises(InvalidCode) as refused:
        run(backend, c.CreateCode(typed))

    assert refused.value.code == "INVALID_CODE"
    assert "this one is empty" in refused.value.message


@pytest.mark.parametrize(
    "command",
    [
        c.RenameCode("CLAESS", "NEW CODE"),
        c.RenameCode("CLA ESS", "NEWCODE"),
        c.DeleteCode("CLA\u0421"),
        c.UpdateCodeDescription("CL\u0391", "text"),
    ],
    ids=["rename-new", "rename-old", "delete", "describe"],
)
def test_every_command_taking_a_code_refuses_a_malformed_one(
    backend: Backend, command: c.Command
) -> None:
    run(backend, c.CreateCode("CLAESS"))

    with pytest.raises(InvalidCode) as refused:
        run(backend, command)

    assert refused.value.code == "INVALID_CODE"
    assert live_code_names(backend) == ["CLAESS"]
