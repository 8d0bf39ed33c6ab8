"""GraphQL over HTTP at /graphql (SPEC §16), GraphiQL for a signed-in browser, and the schema as SDL.

Strawberry's synchronous Django view: a query's resolvers read the database, so the whole request runs on one
thread, as a REST request does. Authentication follows DRF's: a token, else the session, and a write by session
must carry the CSRF token (GraphiQL sends it)."""

import json
from typing import Any

from cross_web import HTTPException
from django.contrib.auth.views import redirect_to_login
from django.core.exceptions import RequestDataTooBig
from django.http import HttpRequest, HttpResponse, HttpResponseBase
from django.middleware.csrf import CsrfViewMiddleware, get_token
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_GET
from strawberry.django.views import GraphQLView

from graphapi.context import GraphContext, http_user, uses_session
from graphapi.errors import BAD_QUERY, FORBIDDEN, PAYLOAD_TOO_LARGE
from graphapi.schema import schema


def _error_response(status: int, code: str, message: str) -> HttpResponse:
    """An HTTP-level refusal in GraphQL's own shape (`errors` with a code), as JSON like every answer here."""
    body = {"errors": [{"message": message, "extensions": {"code": code}}]}
    return HttpResponse(json.dumps(body), status=status, content_type="application/json")


def _csrf_refusal(request: HttpRequest) -> HttpResponse | None:
    """As DRF's SessionAuthentication: the check CsrfViewMiddleware would make, for session callers only."""
    check = CsrfViewMiddleware(lambda _request: HttpResponse())
    check.process_request(request)
    if check.process_view(request, None, (), {}) is None:
        return None
    return _error_response(403, FORBIDDEN, "CSRF check failed; send the X-CSRFToken header.")


class GraphQLApiView(GraphQLView):
    graphql_ide = "graphiql"

    def dispatch(self, request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponseBase:
        request.user = http_user(request)
        if request.method == "POST" and uses_session(request):
            refused = _csrf_refusal(request)
            if refused is not None:
                return refused
        try:
            return self.run(request=request)
        except HTTPException as refused:
            return _error_response(refused.status_code, BAD_QUERY, refused.reason)
        except RequestDataTooBig:
            return _error_response(413, PAYLOAD_TOO_LARGE, "The request body is too large.")

    def get_context(self, request: HttpRequest, response: HttpResponse) -> GraphContext:
        return GraphContext(user=request.user, request=request, response=response)

    def render_graphql_ide(self, request: HttpRequest) -> HttpResponse:
        if not request.user.is_authenticated:
            return redirect_to_login(request.get_full_path())
        get_token(request)  # sets the CSRF cookie, which the page sends back as X-CSRFToken
        return super().render_graphql_ide(request)


graphql_view = csrf_exempt(GraphQLApiView.as_view(schema=schema))


@require_GET
def schema_sdl(request: HttpRequest) -> HttpResponse:
    """The schema in SDL, for code generators and clients that validate documents before sending them."""
    return HttpResponse(schema.as_str() + "\n", content_type="text/plain; charset=utf-8")
