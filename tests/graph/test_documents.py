"""Documents are parsed once per text and validated once per document and rules."""

from __future__ import annotations

import strawberry
from graphql import NoUnusedFragmentsRule, specified_rules
from strawberry.schema.schema import validate_document

from graph.documents import Documents
from graph.limits import CACHED_TEXT_LENGTH


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


def test_a_text_too_long_to_keep_is_parsed_and_validated_each_time() -> None:
    documents = Documents(size=4)
    text = "{ name nope } #" + "x" * CACHED_TEXT_LENGTH

    first = documents.parse(text)
    again = documents.parse(text)
    verdicts = [documents.verdict(SCHEMA, d, RULES) for d in (first, first)]

    assert again is not first
    assert again.to_dict() == first.to_dict()
    assert documents.parsed.cache_info().currsize == 0
    assert documents.validations == 2
    assert [[e.message for e in v] for v in verdicts] == [
        ["Cannot query field 'nope' on type 'Query'. Did you mean 'name'?"]
    ] * 2
