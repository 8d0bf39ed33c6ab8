"""The schema (SPEC §16) and what guards it: limits on what one document may ask (depth, tokens, aliases), and
errors that say what went wrong in `extensions.code` without ever showing an internal exception."""

import logging

import strawberry
from graphql import GraphQLError
from graphql.validation import MaxIntrospectionDepthRule
from strawberry.extensions import (
    AddValidationRules,
    MaskErrors,
    MaxAliasesLimiter,
    MaxTokensLimiter,
    QueryDepthLimiter,
)
from strawberry.types import ExecutionContext

from graphapi.errors import BAD_QUERY, INTERNAL
from graphapi.mutations import Mutation
from graphapi.queries import Query
from graphapi.subscriptions import Subscription

logger = logging.getLogger(__name__)

# `reports { edges { node { file { url } } } }` is 5 deep; introspection (GraphiQL) is not counted.
MAX_DEPTH = 8
# GraphiQL's full introspection query is about 300 tokens.
MAX_TOKENS = 2000
MAX_ALIASES = 20


def _unexpected(error: GraphQLError) -> bool:
    """An exception the code did not mean to show: a bug, or a service that is down."""
    return error.original_error is not None and not isinstance(error.original_error, GraphQLError)


class CodedErrors(MaskErrors):
    """Every error carries `extensions.code`: an unexpected one is replaced by a bare INTERNAL error; a document
    that does not parse, validate or stay within the limits is BAD_QUERY."""

    def __init__(self) -> None:
        super().__init__(should_mask_error=_unexpected, error_message="Internal error; it has been logged.")

    def anonymise_error(self, error: GraphQLError) -> GraphQLError:
        masked = super().anonymise_error(error)
        masked.extensions = {"code": INTERNAL}
        return masked

    def _process_errors(self, errors: list[GraphQLError]) -> list[GraphQLError]:
        processed = super()._process_errors(errors)
        for error in processed:
            if not (error.extensions or {}).get("code"):
                error.extensions = {**(error.extensions or {}), "code": BAD_QUERY}
        return processed


class ReportsSchema(strawberry.Schema):
    def process_errors(self, errors: list[GraphQLError], execution_context: ExecutionContext | None = None) -> None:
        """Logs what nobody meant to happen, with its traceback; a refusal (NOT_FOUND, a bad query) is the
        client's, and not worth a log line each."""
        for error in errors:
            if _unexpected(error):
                logger.error("GraphQL resolver failed: %s", error.message, exc_info=error.original_error)


schema = ReportsSchema(
    query=Query,
    mutation=Mutation,
    subscription=Subscription,
    extensions=[
        lambda: QueryDepthLimiter(max_depth=MAX_DEPTH),
        # Introspection is not counted above (GraphiQL's own query is deep); this bounds it instead.
        lambda: AddValidationRules([MaxIntrospectionDepthRule]),
        lambda: MaxTokensLimiter(max_token_count=MAX_TOKENS),
        lambda: MaxAliasesLimiter(max_alias_count=MAX_ALIASES),
        CodedErrors,
    ],
)
