"""Documents are parsed once per text and validated once per document and rules."""

from __future__ import annotations

import strawberry
from graphql import NoUnusedFragmentsRule, specified_rules
from strawberry.schema.schema import validate_document

from graph.documents import Documents


@strawberry.type
class Query:
    name: str = "x"


SCHEMA = strawberry.Schema(query=Query)._schema
RULES = tuple(specified_rules)


def test_the_same_text_gives_the_same_document() -> None:
    documents = Documents(size=4)

    assert documents.parse("{ name }") is documents.parse("{ name }")


def test_a_document_is_validated_once_for_the_same_rules() -> None:
    documents = Documents(size=4)
    document = documents.parse("{ name nope }")

    first = documents.verdict(SCHEMA, document, RULES)
    again = documents.verdict(SCHEMA, document, RULES)
    fewer = documents.verdict(SCHEMA, document, (NoUnusedFragmentsRule,))

    assert again is first
    assert [e.message for e in first] == [
        e.message for e in validate_document(SCHEMA, document, RULES)
    ]
    assert first
    assert not fewer
    assert documents.validations == 2


def test_the_oldest_verdict_goes_when_the_cache_is_full() -> None:
    documents = Documents(size=2)
    texts = ["{ name }", "{ a: name }", "{ b: name }"]

    for text in texts:
        documents.verdict(SCHEMA, documents.parse(text), RULES)
    documents.verdict(SCHEMA, documents.parse(texts[2]), RULES)
    documents.verdict(SCHEMA, documents.parse(texts[0]), RULES)

    assert documents.validations == 4
