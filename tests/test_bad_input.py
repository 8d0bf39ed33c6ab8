"""Bad input, table by table: each request is answered with the right 4xx problem document, and nothing is written.
Run on SQLite and on PostgreSQL (which refuses NUL characters in text, where SQLite stores them)."""

import json
from dataclasses import dataclass, field
from typing import Any

import pytest
from django.conf import settings

from events.models import Delivery, Event
from notifications.models import WebhookEndpoint
from reports.models import IdempotencyKey, Report
from reports.services import report_create

PROBLEM = "application/problem+json"
URN = "urn:reportsite:problem:"


@dataclass(frozen=True)
class Bad:
    status: int
    slug: str
    body: Any = None  # JSON-encoded unless `raw`
    raw: str | bytes | None = None
    content_type: str = "application/json"
    method: str = "post"
    path: str = "/api/v1/reports"
    headers: dict[str, str] = field(default_factory=dict)


def nested(depth: int) -> str:
    return '{"report_type": "user_access", "parameters": {"x": ' + "[" * depth + "]" * depth + "}}"


INVALID = "validation-error"
MALFORMED = "malformed-request"
NOT_FOUND = "not-found"

CASES = {
    # Unknown or unusable report types
    "unknown type": Bad(400, INVALID, {"report_type": "payroll"}),
    "type of the wrong JSON type": Bad(400, INVALID, {"report_type": ["user_access"]}),
    "type null": Bad(400, INVALID, {"report_type": None}),
    "type missing": Bad(400, INVALID, {"parameters": {}}),
    "type empty": Bad(400, INVALID, {"report_type": ""}),
    "type 10 000 characters long": Bad(400, INVALID, {"report_type": "a" * 10_000}),
    # Parameters of the wrong type or shape
    "boolean parameter given a string": Bad(
        400, INVALID, {"report_type": "user_access", "parameters": {"staff_only": "yes"}}
    ),
    "boolean parameter given 1": Bad(400, INVALID, {"report_type": "user_access", "parameters": {"staff_only": 1}}),
    "parameters a list": Bad(400, INVALID, {"report_type": "user_access", "parameters": [True]}),
    "parameters a string": Bad(400, INVALID, {"report_type": "user_access", "parameters": "staff_only=true"}),
    "unknown parameter": Bad(400, INVALID, {"report_type": "user_access", "parameters": {"limit": 5}}),
    "notify not an object": Bad(400, INVALID, {"report_type": "user_access", "notify": "email"}),
    "notify with a string for a boolean": Bad(
        400, INVALID, {"report_type": "user_access", "notify": {"email": "true"}}
    ),
    "callback_url not a URL": Bad(400, INVALID, {"report_type": "user_access", "callback_url": "not a url"}),
    "callback_url to a file": Bad(400, INVALID, {"report_type": "user_access", "callback_url": "file:///etc/passwd"}),
    "unknown top-level field": Bad(400, INVALID, {"report_type": "user_access", "owner": 1}),
    # Bodies too large, not JSON, or broken JSON
    "body over the size limit": Bad(413, "payload-too-large", raw='{"report_type": "' + "a" * (1024 * 1024) + '"}'),
    "text/plain body": Bad(415, "unsupported-media-type", raw="report_type=user_access", content_type="text/plain"),
    "XML body": Bad(415, "unsupported-media-type", raw="<report/>", content_type="application/xml"),
    "form body": Bad(
        415, "unsupported-media-type", raw="report_type=user_access", content_type="application/x-www-form-urlencoded"
    ),
    "truncated JSON": Bad(400, MALFORMED, raw='{"report_type": "user_access",'),
    "JSON with a trailing comma": Bad(400, MALFORMED, raw='{"report_type": "user_access",}'),
    "JSON in single quotes": Bad(400, MALFORMED, raw="{'report_type': 'user_access'}"),
    "NaN in JSON": Bad(400, MALFORMED, raw='{"report_type": "user_access", "parameters": {"x": NaN}}'),
    "not UTF-8": Bad(400, MALFORMED, raw=b'{"report_type": "user_\xff\xfe"}'),
    "JSON null": Bad(400, INVALID, raw="null"),
    "JSON string": Bad(400, INVALID, raw='"user_access"'),
    "empty body": Bad(400, INVALID, raw=""),
    "nested 33 levels": Bad(400, MALFORMED, raw=nested(32)),
    "nested 5000 levels": Bad(400, MALFORMED, raw=nested(5000)),
    "number with 5000 digits": Bad(
        400, MALFORMED, raw='{"report_type": "user_access", "parameters": {"x": ' + "9" * 5000 + "}}"
    ),
    # Unicode and control characters
    "NUL in the type": Bad(400, MALFORMED, raw='{"report_type": "user_access\\u0000"}'),
    "NUL in a parameter name": Bad(
        400, MALFORMED, raw='{"report_type": "user_access", "parameters": {"a\\u0000": true}}'
    ),
    "unpaired surrogate in a field name": Bad(400, MALFORMED, raw='{"report_type": "user_access", "\\ud800": 1}'),
    "unpaired surrogate in the type": Bad(400, MALFORMED, raw='{"report_type": "\\udfff"}'),
    "type in Japanese": Bad(400, INVALID, {"report_type": "ユーザー"}),
    "right-to-left override": Bad(400, INVALID, {"report_type": "\u202euser_access"}),
    "terminal escape codes": Bad(400, INVALID, {"report_type": "\x1b[31muser_access\x1b[0m"}),
    "emoji parameter name": Bad(400, INVALID, {"report_type": "user_access", "parameters": {"\U0001f4a5": True}}),
    "zero-width space in the type": Bad(400, INVALID, {"report_type": "user\u200baccess"}),
    # SQL and template text
    "SQL in the type": Bad(400, INVALID, {"report_type": "user_access' OR '1'='1"}),
    "SQL in a parameter": Bad(
        400, INVALID, {"report_type": "user_access", "parameters": {"staff_only": "1; DROP TABLE reports_report; --"}}
    ),
    "SQL as a parameter name": Bad(
        400, INVALID, {"report_type": "user_access", "parameters": {"staff_only = 1 OR 1": True}}
    ),
    "template in the type": Bad(400, INVALID, {"report_type": "{{ settings.SECRET_KEY }}"}),
    "template tag in a parameter": Bad(
        400, INVALID, {"report_type": "user_access", "parameters": {"staff_only": "{% debug %}"}}
    ),
    "template in a notify flag": Bad(400, INVALID, {"report_type": "user_access", "notify": {"email": "{{ 7*7 }}"}}),
    # Bad Idempotency-Key
    "Idempotency-Key with a control character": Bad(
        400, INVALID, {"report_type": "user_access"}, headers={"HTTP_IDEMPOTENCY_KEY": "key\x07"}
    ),
    # Bad ids, on every report and webhook path
    "report id with NUL": Bad(404, NOT_FOUND, method="get", path="/api/v1/reports/rep_%00"),
    "report file id with NUL": Bad(404, NOT_FOUND, method="get", path="/api/v1/reports/%00/file"),
    "cancel of an id with NUL": Bad(404, NOT_FOUND, method="post", path="/api/v1/reports/rep_%00x/cancel"),
    "report id 5000 characters long": Bad(404, NOT_FOUND, method="get", path="/api/v1/reports/rep_" + "a" * 5000),
    "report id in SQL": Bad(404, NOT_FOUND, method="get", path="/api/v1/reports/rep_'%20OR%20'1'='1"),
    "report id that climbs": Bad(404, NOT_FOUND, method="get", path="/api/v1/reports/..%2F..%2Fetc%2Fpasswd"),
    "report id in Unicode": Bad(404, NOT_FOUND, method="get", path="/api/v1/reports/rep_%E2%80%AE"),
    "report id with a surrogate escape": Bad(404, NOT_FOUND, method="get", path="/api/v1/reports/rep_%ED%A0%80"),
    "endpoint id with NUL": Bad(404, NOT_FOUND, method="get", path="/api/v1/webhook-endpoints/we_%00"),
    "delivery id with NUL": Bad(
        404, NOT_FOUND, method="post", path="/api/v1/webhook-endpoints/{endpoint}/deliveries/dlv_%00/redeliver"
    ),
    "report type key with NUL": Bad(404, NOT_FOUND, method="get", path="/api/v1/report-types/user%00"),
    # Bad query parameters
    "status filter with NUL": Bad(400, INVALID, method="get", path="/api/v1/reports?status=%00"),
    "type filter with NUL": Bad(400, INVALID, method="get", path="/api/v1/reports?report_type=user%00"),
    "cursor that is not ours": Bad(404, NOT_FOUND, method="get", path="/api/v1/reports?cursor=cD0yMDI2"),
}


def counts() -> dict[str, int]:
    return {
        model.__name__: model.objects.count() for model in (Report, IdempotencyKey, WebhookEndpoint, Event, Delivery)
    }


@pytest.fixture
def endpoint(user) -> WebhookEndpoint:
    return WebhookEndpoint.objects.create(owner=user, url="https://hooks.example.com/in", secret="whsec_x")


@pytest.mark.django_db
@pytest.mark.parametrize("case", CASES.values(), ids=CASES.keys())
def test_bad_input_is_a_4xx_problem_and_writes_nothing(case: Bad, api, user, endpoint):
    # Given one report of the caller's, and what the database holds
    report_create(user=user, report_type="user_access", parameters={})
    before = counts()
    path = case.path.format(endpoint=endpoint.id)
    options: dict[str, Any] = dict(case.headers)
    if case.method == "post" and not path.endswith("/cancel") and not path.endswith("/redeliver"):
        data = case.raw if case.raw is not None else json.dumps(case.body, ensure_ascii=False)
        options.update(data=data, content_type=case.content_type)

    # When the bad request is made
    response = getattr(api, case.method)(path, **options)

    # Then it is the expected problem, readable as JSON, without a trace of internals
    assert response.status_code == case.status, response.content[:500]
    assert response["Content-Type"] == PROBLEM
    problem = response.json()
    assert problem["type"] == URN + case.slug
    assert problem["status"] == case.status
    assert settings.SECRET_KEY not in response.content.decode()
    assert "Traceback" not in response.content.decode()
    # And nothing was written
    assert counts() == before
