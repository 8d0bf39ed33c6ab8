"""The webhooks pages of the staff web UI (SPEC §9, §7): the user's endpoints with their health; add (the signing
secret shown once), edit, enable and disable, delete, test, rotate the secret; each endpoint's delivery log with its
attempts, redeliver, and recovering what failed since a time; the callback secret; the catalog of event types. Like
every view, these only translate: a form in, a service call, a page out."""

import hashlib
import json

from django.contrib import messages
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils import timezone
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from common.netsafety import UnsafeDestination
from common.rate_limits import RateLimited
from common.staff import staff_required
from events.engine import DeliveryInFlight, delivery_redeliver
from events.types import event_type_catalog
from notifications.models import WebhookEndpoint
from notifications.webhook_forms import DeliveryFilterForm, EndpointForm, RecoverForm
from notifications.webhooks import recovery as recovery_service
from notifications.webhooks import selectors, services
from notifications.webhooks.examples import endpoint_send_example
from notifications.webhooks.health import endpoints_health
from notifications.webhooks.transport import USER_AGENT

# Deliveries shown on an endpoint's page, newest first.
DELIVERIES_SHOWN = 50


def _own(request: HttpRequest, endpoint_id: str) -> WebhookEndpoint:
    endpoint = selectors.endpoint_get(user=request.user, endpoint_id=endpoint_id)
    if endpoint is None:
        raise Http404("No such webhook endpoint of yours.")
    return endpoint


def _own_delivery(request: HttpRequest, endpoint_id: str, delivery_id: str):
    delivery = selectors.delivery_get(user=request.user, endpoint_id=endpoint_id, delivery_id=delivery_id)
    if delivery is None:
        raise Http404("No such delivery of yours.")
    return delivery


def _secret_page(request: HttpRequest, endpoint: WebhookEndpoint, *, created: bool) -> HttpResponse:
    """The only page that shows an endpoint's signing secret: right after it was made or rotated."""
    return render(request, "ui/webhooks/secret.html", {"endpoint": endpoint, "created": created})


@staff_required
@require_GET
def endpoint_list(request: HttpRequest) -> HttpResponse:
    endpoints = list(selectors.endpoint_list(user=request.user))
    health = endpoints_health(endpoints)
    rows = [(endpoint, health[endpoint.pk]) for endpoint in endpoints]
    return render(request, "ui/webhooks/list.html", {"rows": rows})


@staff_required
@require_http_methods(["GET", "POST"])
def endpoint_edit(request: HttpRequest, endpoint_id: str | None = None) -> HttpResponse:
    endpoint = _own(request, endpoint_id) if endpoint_id else None
    initial = EndpointForm.initial_of(endpoint) if endpoint else None
    form = EndpointForm(request.POST if request.method == "POST" else None, initial=initial)
    if request.method == "POST" and form.is_valid():
        try:
            if endpoint is None:
                created = services.endpoint_create(owner=request.user, **form.cleaned_data)
                return _secret_page(request, created, created=True)
            services.endpoint_update(endpoint=endpoint, **form.cleaned_data)
        except UnsafeDestination as error:
            form.add_service_error("url", error)
        except services.EventTypeUnknown as error:
            form.add_service_error("event_types", error)
        except services.EndpointLimitReached as error:
            form.add_service_error("__all__", error)
        else:
            messages.success(request, "Endpoint saved.")
            return redirect("notifications_ui:webhook-detail", endpoint_id=endpoint.id)
    context = {"form": form, "endpoint": endpoint}
    return render(request, "ui/webhooks/form.html", context, status=400 if form.errors else 200)


def _filtered_deliveries(request: HttpRequest, endpoint: WebhookEndpoint) -> tuple[DeliveryFilterForm, list]:
    filters = DeliveryFilterForm(request.GET or None)
    deliveries = selectors.delivery_list(endpoint=endpoint)
    if filters.is_valid():
        if filters.cleaned_data["status"]:
            deliveries = deliveries.filter(status=filters.cleaned_data["status"])
        if filters.cleaned_data["event_type"]:
            deliveries = deliveries.filter(event__type=filters.cleaned_data["event_type"])
    return filters, list(deliveries.order_by("-created_at", "-id")[:DELIVERIES_SHOWN])


def _rows_version(deliveries: list) -> str:
    """Changes whenever a delivery shown is added or has another attempt: the live log's ETag."""
    state = [(delivery.pk, delivery.status, delivery.attempt_count) for delivery in deliveries]
    return hashlib.sha256(json.dumps(state).encode()).hexdigest()[:32]


def _request_headers(delivery) -> dict[str, str]:
    """The headers each attempt sent, the signature left out: it is computed with the secret at the attempt's time."""
    return {
        "content-type": "application/json",
        "user-agent": USER_AGENT,
        "webhook-id": delivery.event_id,
        "webhook-timestamp": "the attempt's time, in seconds since 1970",
        "webhook-signature": "v1,… (HMAC-SHA256 with the endpoint's secret)",
    }


@staff_required
@require_GET
def endpoint_detail(request: HttpRequest, endpoint_id: str) -> HttpResponse:
    endpoint = _own(request, endpoint_id)
    filters, deliveries = _filtered_deliveries(request, endpoint)
    recovery = endpoint.recoveries.first()
    context = {
        "endpoint": endpoint,
        "health": endpoints_health([endpoint])[endpoint.pk],
        "filters": filters,
        "deliveries": deliveries,
        "version": _rows_version(deliveries),
        "recover_form": RecoverForm(initial={"since": timezone.localtime() - timezone.timedelta(hours=1)}),
        "recovery": recovery,
        "recovery_progress": recovery_service.recovery_refresh(recovery=recovery) if recovery else None,
    }
    return render(request, "ui/webhooks/detail.html", context)


@staff_required
@require_GET
def endpoint_deliveries(request: HttpRequest, endpoint_id: str) -> HttpResponse:
    """The delivery log's rows alone, for the page to refresh itself: 304 while nothing changed."""
    endpoint = _own(request, endpoint_id)
    _, deliveries = _filtered_deliveries(request, endpoint)
    version = _rows_version(deliveries)
    if request.headers.get("If-None-Match") == f'"{version}"':
        response = HttpResponse(status=304)
    else:
        context = {"endpoint": endpoint, "deliveries": deliveries}
        response = render(request, "ui/webhooks/_deliveries.html", context)
    response["ETag"] = f'"{version}"'
    response["Cache-Control"] = "private, no-cache"
    return response


@staff_required
@require_GET
def delivery_detail(request: HttpRequest, endpoint_id: str, delivery_id: str) -> HttpResponse:
    delivery = _own_delivery(request, endpoint_id, delivery_id)
    context = {
        "endpoint": _own(request, endpoint_id),
        "delivery": delivery,
        "attempts": delivery.attempts.order_by("-number"),
        "request_headers": _request_headers(delivery),
        "request_body": json.dumps(json.loads(delivery.event.envelope_json), indent=2, ensure_ascii=False),
    }
    return render(request, "ui/webhooks/delivery.html", context)


@staff_required
@require_POST
def endpoint_toggle(request: HttpRequest, endpoint_id: str) -> HttpResponse:
    endpoint = _own(request, endpoint_id)
    services.endpoint_update(endpoint=endpoint, enabled=not endpoint.enabled)
    messages.success(
        request, "Endpoint disabled." if endpoint.enabled else "Endpoint enabled: what it missed is sent now."
    )
    return redirect("notifications_ui:webhook-detail", endpoint_id=endpoint.id)


@staff_required
@require_POST
def endpoint_delete(request: HttpRequest, endpoint_id: str) -> HttpResponse:
    endpoint = _own(request, endpoint_id)
    services.endpoint_delete(endpoint=endpoint)
    messages.success(request, f"Endpoint {endpoint.url} deleted, with its delivery log.")
    return redirect("notifications_ui:webhook-list")


@staff_required
@require_POST
def endpoint_test(request: HttpRequest, endpoint_id: str) -> HttpResponse:
    endpoint = _own(request, endpoint_id)
    try:
        delivery = services.endpoint_send_test(endpoint=endpoint)
    except RateLimited as error:
        messages.error(request, str(error))
    else:
        attempt = delivery.attempts.last()
        if attempt.succeeded:
            messages.success(request, f"Test event delivered: HTTP {attempt.status_code} in {attempt.latency_ms} ms.")
        else:
            messages.error(request, f"Test event not delivered: {attempt.error}. It will be retried.")
    return redirect("notifications_ui:webhook-detail", endpoint_id=endpoint.id)


@staff_required
@require_POST
def endpoint_rotate_secret(request: HttpRequest, endpoint_id: str) -> HttpResponse:
    endpoint = services.endpoint_rotate_secret(endpoint=_own(request, endpoint_id))
    return _secret_page(request, endpoint, created=False)


@staff_required
@require_POST
def delivery_send_again(request: HttpRequest, endpoint_id: str, delivery_id: str) -> HttpResponse:
    delivery = _own_delivery(request, endpoint_id, delivery_id)
    try:
        delivery_redeliver(delivery=delivery)
    except DeliveryInFlight as error:
        messages.error(request, str(error))
    else:
        messages.success(request, f"Delivery of {delivery.event_id} sent again.")
    return redirect("notifications_ui:webhook-detail", endpoint_id=endpoint_id)


@staff_required
@require_POST
def endpoint_recover(request: HttpRequest, endpoint_id: str) -> HttpResponse:
    endpoint = _own(request, endpoint_id)
    form = RecoverForm(request.POST)
    if not form.is_valid():
        errors = "; ".join(f"{form.fields[name].label}: {' '.join(problems)}" for name, problems in form.errors.items())
        messages.error(request, f"Nothing was recovered. {errors}")
        return redirect("notifications_ui:webhook-detail", endpoint_id=endpoint.id)
    try:
        recovery_service.endpoint_recover(
            endpoint=endpoint, since=form.cleaned_data["since"], only_failed=form.cleaned_data["status"] == "failed"
        )
    except (recovery_service.RecoveryRunning, recovery_service.RecoveryRefused, recovery_service.RecoveryInvalid) as e:
        messages.error(request, f"Nothing was recovered: {e}")
    else:
        messages.success(request, "Recovery started: its progress shows below.")
    return redirect("notifications_ui:webhook-detail", endpoint_id=endpoint.id)


@staff_required
@require_http_methods(["GET", "POST"])
def callback_secret(request: HttpRequest) -> HttpResponse:
    """Masked until asked for (POST reveal), so that it is not on screen whenever the page is."""
    revealed = False
    if request.method == "POST" and "rotate" in request.POST:
        secret = services.callback_secret_rotate(user=request.user)
        messages.success(request, "Callback secret rotated: the old one keeps signing beside it for a while.")
        revealed = True
    else:
        secret = services.callback_secret_for(user=request.user)
        revealed = request.method == "POST" and "reveal" in request.POST
    return render(request, "ui/webhooks/callback_secret.html", {"secret": secret, "revealed": revealed})


@staff_required
@require_GET
def event_catalog(request: HttpRequest) -> HttpResponse:
    types = [
        {
            "type": known,
            "schema": json.dumps(known.schema, indent=2, ensure_ascii=False),
            "example": json.dumps(known.example, indent=2, ensure_ascii=False),
        }
        for known in event_type_catalog()
    ]
    context = {"types": types, "endpoints": selectors.endpoint_list(user=request.user)}
    return render(request, "ui/webhooks/catalog.html", context)


@staff_required
@require_POST
def event_example_send(request: HttpRequest) -> HttpResponse:
    """The catalog's "Send example": one signed POST of the type's example to one of the user's endpoints."""
    endpoint = _own(request, request.POST.get("endpoint", ""))
    event_type = request.POST.get("event_type", "")
    try:
        sent = endpoint_send_example(endpoint=endpoint, event_type=event_type)
    except (services.EventTypeUnknown, RateLimited) as error:
        messages.error(request, str(error))
    else:
        result = sent.result
        if result.succeeded:
            messages.success(
                request, f"Example {event_type} delivered: HTTP {result.status_code} in {result.latency_ms} ms."
            )
        else:
            messages.error(request, f"Example {event_type} not delivered: {result.error}.")
    return redirect(f"{reverse('notifications_ui:event-catalog')}#type-{event_type}")
