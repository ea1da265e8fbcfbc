"""Query documents parsed once per text and validated once per document.

Strawberry's own validation cache keys its entries by the parsed document,
whose hash walks every node of it on each request: a fifth of the time
validation had left to take. Documents here come from the parse cache, the same
object for the same text, so verdicts are kept by the document's identity; each
entry holds its document, so the id cannot be reused while the verdict is kept.
A text too long to keep (see ``graph.limits.is_kept``) is parsed and validated
afresh each time, and neither its document nor its verdict is kept.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from functools import lru_cache
from typing import Any

from graphql import ASTValidationRule, DocumentNode, GraphQLError, GraphQLSchema
from graphql.language.parser import parse
from strawberry.extensions import SchemaExtension
from strawberry.schema.schema import validate_document

from graph.limits import is_kept, is_kept_node

Rules = tuple[type[ASTValidationRule], ...]
_Verdict = tuple[GraphQLSchema, DocumentNode, list[GraphQLError]]


class Documents:
    """Parsed documents by text, and validation verdicts by schema and document."""

    def __init__(self, size: int) -> None:
        self.size = size
        self.parsed: Callable[..., DocumentNode] = lru_cache(maxsize=size)(parse)
        """The parser behind a cache of ``size`` texts, which ``cache_info`` counts."""
        self._verdicts: dict[tuple[int, int, Rules], _Verdict] = {}
        self.validations = 0
        """How many documents were validated rather than answered from memory."""

    def parse(self, query: str, **options: Any) -> DocumentNode:
        """The document of ``query``, the same object for the same text when kept."""
        if not is_kept(query):
            return parse(query, **options)
        return self.parsed(query, **options)

    def verdict(
        self, schema: GraphQLSchema, document: DocumentNode, rules: Rules
    ) -> list[GraphQLError]:
        """The validation errors of ``document`` under ``rules``, found once."""
        key = (id(schema), id(document), rules)
        kept = self._verdicts.get(key)
        if kept is not None:
            return kept[2]

        errors = validate_document(schema, document, rules)
        self.validations += 1
        if not is_kept_node(document):
            return errors
        if len(self._verdicts) >= self.size:
            # The oldest goes first; a document in use is soon validated again.
            del self._verdicts[next(iter(self._verdicts))]
        self._verdicts[key] = (schema, document, errors)
        return errors


class CachedDocuments(SchemaExtension):
    """Parses and validates one request's query through ``documents``.

    Listed after the limits, whose check of the text must come before parsing.
    """

    def __init__(self, documents: Documents) -> None:
        self.documents = documents

    def on_parse(self) -> Iterator[None]:
        context = self.execution_context
        if context.query is not None:
            context.graphql_document = self.documents.parse(
                context.query, **context.parse_options
            )
        yield

    def on_validate(self) -> Iterator[None]:
        context = self.execution_context
        document = context.graphql_document
        if document is not None and context.validation_rules:
            context.pre_execution_errors = self.documents.verdict(
                context.schema._schema, document, context.validation_rules
            )
        yield
