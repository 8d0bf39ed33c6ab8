from django.apps import AppConfig


class GraphApiConfig(AppConfig):
    """GraphQL at /graphql (SPEC §16): queries, mutations and subscriptions over the same services as the REST API."""

    name = "graphapi"
    verbose_name = "GraphQL API"
