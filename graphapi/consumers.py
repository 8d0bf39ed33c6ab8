"""GraphQL over the WebSocket at /graphql, `graphql-transport-ws` protocol (SPEC §16)."""

from datetime import timedelta

from django.contrib.auth.models import AnonymousUser
from strawberry.channels import GraphQLWSConsumer
from strawberry.exceptions import ConnectionRejectionError
from strawberry.subscriptions import GRAPHQL_TRANSPORT_WS_PROTOCOL
from strawberry.types.unset import UNSET, UnsetType

from common.ws_auth import user_for_token
from graphapi.context import GraphContext, connection_token
from graphapi.schema import schema

# A socket that never says who it is is closed after this (the protocol's 4408): idle handshakes cost nothing long.
CONNECTION_INIT_TIMEOUT = timedelta(seconds=10)
# Operations at once on one socket; past it, an operation is refused with an error.
MAX_OPERATIONS_PER_CONNECTION = 20


class GraphQLConsumer(GraphQLWSConsumer):
    """Who is asking is settled at `connection_init`: the payload's token, else the handshake's session cookie or
    token. Without valid credentials the socket is closed with 4403 before any operation runs."""

    async def get_context(self, request: GraphQLWSConsumer, response: GraphQLWSConsumer) -> GraphContext:
        return GraphContext(user=self.scope.get("user") or AnonymousUser())

    async def on_ws_connect(self, context: GraphContext) -> UnsetType:
        key = connection_token(context.connection_params)
        if key is not None:
            context.user = await user_for_token(key)
        if not context.user.is_authenticated:
            raise ConnectionRejectionError()
        return UNSET  # a bare connection_ack


def graphql_consumer():
    return GraphQLConsumer.as_asgi(
        schema=schema,
        subscription_protocols=(GRAPHQL_TRANSPORT_WS_PROTOCOL,),
        connection_init_wait_timeout=CONNECTION_INIT_TIMEOUT,
        max_subscriptions_per_connection=MAX_OPERATIONS_PER_CONNECTION,
    )
