"""One view per operation; each translates HTTP to a notifications service call and back. Every query is scoped to
the caller: another user's endpoint or delivery is 404 whatever the verb, exactly like an id that does not exist."""

from django.http import Http404
from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework import status
from rest_framework.exceptions import APIException, Throttled, ValidationError
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from common.api.pagination import NewestFirstCursorPagination
from common.api.serializers import PROBLEM, ProblemSerializer
from common.netsafety import UnsafeDestination
from events.engine import DeliveryInFlight, delivery_redeliver
from events.models import Delivery
from notifications.api.serializers import (
    RECOVER_FAILED,
    CallbackSecretOutputSerializer,
    DeliveryOutputSerializer,
    EndpointCreatedOutputSerializer,
    EndpointCreateInputSerializer,
    EndpointOutputSerializer,
    EndpointTestOutputSerializer,
    EndpointUpdateInputSerializer,
    ExampleSentOutputSerializer,
    PhoneConfirmInputSerializer,
    PreferencesOutputSerializer,
    PreferencesUpdateInputSerializer,
    RecoverInputSerializer,
    RecoveryOutputSerializer,
    SecretRotationOutputSerializer,
    SendExampleInputSerializer,
)
from notifications.messages import phone, preferences
from notifications.models import WebhookEndpoint, WebhookRecovery
from notifications.webhooks import recovery as recovery_service
from notifications.webhooks import selectors, services
from notifications.webhooks.examples import endpoint_send_example

COMMON_ERRORS = {401: PROBLEM, 404: PROBLEM}
CODES_THROTTLED = OpenApiResponse(
    ProblemSerializer, description="Too many codes texted lately; nothing changed, Retry-After says when to try again"
)
ALREADY_CONFIRMED = OpenApiResponse(ProblemSerializer, description="The phone number is already confirmed")


class Conflict(APIException):
    status_code = status.HTTP_409_CONFLICT
    default_detail = "The request conflicts with the current state."
    default_code = "conflict"


class CodesThrottled(Throttled):
    """A 429 whose detail is the service's message as it is (DRF's Throttled would add its own sentence)."""

    def __init__(self, error: phone.PhoneCodeThrottled):
        APIException.__init__(self, str(error))
        self.wait = error.retry_after


class NotSent(APIException):
    status_code = status.HTTP_503_SERVICE_UNAVAILABLE
    default_detail = "The message could not be sent."
    default_code = "not_sent"


def _endpoint_or_404(request: Request, endpoint_id: str) -> WebhookEndpoint:
    endpoint = selectors.endpoint_get(user=request.user, endpoint_id=endpoint_id)
    if endpoint is None:
        raise Http404
    return endpoint


def _delivery_or_404(request: Request, endpoint_id: str, delivery_id: str) -> Delivery:
    delivery = selectors.delivery_get(user=request.user, endpoint_id=endpoint_id, delivery_id=delivery_id)
    if delivery is None:
        raise Http404
    return delivery


def _field_errors(error: Exception, field: str) -> ValidationError:
    return ValidationError({field: [str(error)]})


class OwnedEndpointApi(APIView):
    """Base for views under one endpoint: an endpoint (or delivery) that is not the caller's is 404 even for a verb
    the view does not support, so that 405 never confirms that someone else's id exists."""

    def http_method_not_allowed(self, request: Request, *args, **kwargs) -> Response:
        if "delivery_id" in kwargs:
            _delivery_or_404(request, kwargs["endpoint_id"], kwargs["delivery_id"])
        else:
            _endpoint_or_404(request, kwargs["endpoint_id"])
        return super().http_method_not_allowed(request, *args, **kwargs)


class EndpointListCreateApi(APIView):
    pagination_class = NewestFirstCursorPagination

    @extend_schema(
        operation_id="webhook_endpoints_list",
        summary="List your webhook endpoints, newest first",
        responses={200: EndpointOutputSerializer(many=True), 401: PROBLEM},
    )
    def get(self, request: Request) -> Response:
        endpoints = selectors.endpoint_list(user=request.user)
        paginator = self.pagination_class()
        page = paginator.paginate_queryset(endpoints, request, view=self)
        return paginator.get_paginated_response(
            EndpointOutputSerializer(page, many=True, context={"request": request}).data
        )

    @extend_schema(
        operation_id="webhook_endpoints_create",
        summary="Register a webhook endpoint; the answer holds its signing secret, shown only this once",
        request=EndpointCreateInputSerializer,
        responses={201: EndpointCreatedOutputSerializer, 400: PROBLEM, 401: PROBLEM, 415: PROBLEM},
    )
    def post(self, request: Request) -> Response:
        payload = EndpointCreateInputSerializer(data=request.data)
        payload.is_valid(raise_exception=True)
        try:
            endpoint = services.endpoint_create(owner=request.user, **payload.validated_data)
        except UnsafeDestination as error:
            raise _field_errors(error, "url") from error
        except services.EventTypeUnknown as error:
            raise _field_errors(error, "event_types") from error
        context = {"request": request}
        response = Response(EndpointCreatedOutputSerializer(endpoint, context=context).data, status.HTTP_201_CREATED)
        response["Location"] = response.data["links"]["self"]
        return response


class EndpointDetailApi(OwnedEndpointApi):
    @extend_schema(
        operation_id="webhook_endpoints_retrieve",
        summary="A webhook endpoint (without its secret)",
        responses={200: EndpointOutputSerializer, **COMMON_ERRORS},
    )
    def get(self, request: Request, endpoint_id: str) -> Response:
        endpoint = _endpoint_or_404(request, endpoint_id)
        return Response(EndpointOutputSerializer(endpoint, context={"request": request}).data)

    @extend_schema(
        operation_id="webhook_endpoints_update",
        summary="Change an endpoint; enabling it sends again what it missed while disabled",
        request=EndpointUpdateInputSerializer,
        responses={200: EndpointOutputSerializer, 400: PROBLEM, **COMMON_ERRORS},
    )
    def patch(self, request: Request, endpoint_id: str) -> Response:
        endpoint = _endpoint_or_404(request, endpoint_id)
        payload = EndpointUpdateInputSerializer(data=request.data)
        payload.is_valid(raise_exception=True)
        try:
            endpoint = services.endpoint_update(endpoint=endpoint, **payload.validated_data)
        except UnsafeDestination as error:
            raise _field_errors(error, "url") from error
        except services.EventTypeUnknown as error:
            raise _field_errors(error, "event_types") from error
        return Response(EndpointOutputSerializer(endpoint, context={"request": request}).data)

    @extend_schema(
        operation_id="webhook_endpoints_destroy",
        summary="Delete an endpoint and its delivery log",
        responses={204: None, **COMMON_ERRORS},
    )
    def delete(self, request: Request, endpoint_id: str) -> Response:
        services.endpoint_delete(endpoint=_endpoint_or_404(request, endpoint_id))
        return Response(status=status.HTTP_204_NO_CONTENT)


class EndpointRotateSecretApi(OwnedEndpointApi):
    @extend_schema(
        operation_id="webhook_endpoints_rotate_secret",
        summary="A new signing secret; the previous one keeps signing beside it for a while",
        request=None,
        responses={200: SecretRotationOutputSerializer, **COMMON_ERRORS},
    )
    def post(self, request: Request, endpoint_id: str) -> Response:
        endpoint = services.endpoint_rotate_secret(endpoint=_endpoint_or_404(request, endpoint_id))
        return Response(SecretRotationOutputSerializer(endpoint).data)


class EndpointTestApi(OwnedEndpointApi):
    @extend_schema(
        operation_id="webhook_endpoints_test",
        summary="Send a signed ping event to the endpoint now and answer with the outcome",
        request=None,
        responses={
            200: EndpointTestOutputSerializer,
            429: PROBLEM,  # tested too often: Retry-After says when to try again
            **COMMON_ERRORS,
        },
    )
    def post(self, request: Request, endpoint_id: str) -> Response:
        delivery_endpoint = _endpoint_or_404(request, endpoint_id)
        delivery = services.endpoint_send_test(endpoint=delivery_endpoint)
        attempt = delivery.attempts.last()  # the one just made
        outcome = {
            "status": delivery.status,
            "status_code": attempt.status_code,
            "latency_ms": attempt.latency_ms,
            "error": attempt.error,
            "attempt": attempt,
            "delivery": delivery,
        }
        context = {"request": request, "endpoint": delivery_endpoint}
        return Response(EndpointTestOutputSerializer(outcome, context=context).data)


class EndpointSendExampleApi(OwnedEndpointApi):
    @extend_schema(
        operation_id="webhook_endpoints_send_example",
        summary="POST an example of an event type to the endpoint now, signed; not retried, not in your event log",
        request=SendExampleInputSerializer,
        responses={
            200: ExampleSentOutputSerializer,
            400: PROBLEM,
            429: PROBLEM,  # the test ping's rate: Retry-After says when to try again
            **COMMON_ERRORS,
        },
    )
    def post(self, request: Request, endpoint_id: str) -> Response:
        endpoint = _endpoint_or_404(request, endpoint_id)
        payload = SendExampleInputSerializer(data=request.data)
        payload.is_valid(raise_exception=True)
        try:
            sent = endpoint_send_example(endpoint=endpoint, event_type=payload.validated_data["event_type"])
        except services.EventTypeUnknown as error:
            raise _field_errors(error, "event_type") from error
        result = sent.result
        outcome = {
            "delivered": result.succeeded,
            "status_code": result.status_code,
            "latency_ms": result.latency_ms,
            "error": result.error,
            "response_excerpt": result.excerpt,
            "event": sent.envelope,
        }
        return Response(ExampleSentOutputSerializer(outcome).data)


def _recovery_response(request: Request, recovery: WebhookRecovery, **kwargs) -> Response:
    progress = recovery_service.recovery_refresh(recovery=recovery)
    context = {"request": request, "progress": progress}
    return Response(RecoveryOutputSerializer(recovery, context=context).data, **kwargs)


class EndpointRecoverApi(OwnedEndpointApi):
    @extend_schema(
        operation_id="webhook_endpoints_recover",
        summary="Send the endpoint's deliveries since a time again (with their event ids), as an operation to follow",
        request=RecoverInputSerializer,
        responses={
            202: RecoveryOutputSerializer,
            400: PROBLEM,
            409: OpenApiResponse(
                ProblemSerializer, description="A recovery of the endpoint is queued or running, or it is disabled"
            ),
            **COMMON_ERRORS,
        },
    )
    def post(self, request: Request, endpoint_id: str) -> Response:
        endpoint = _endpoint_or_404(request, endpoint_id)
        payload = RecoverInputSerializer(data=request.data)
        payload.is_valid(raise_exception=True)
        recovery = recovery_service.endpoint_recover(
            endpoint=endpoint,
            since=payload.validated_data["since"],
            only_failed=payload.validated_data["status"] == RECOVER_FAILED,
        )
        response = _recovery_response(request, recovery, status=status.HTTP_202_ACCEPTED)
        response["Location"] = response.data["links"]["self"]
        return response


class RecoveryDetailApi(OwnedEndpointApi):
    @extend_schema(
        operation_id="webhook_recoveries_retrieve",
        summary="A recovery of the endpoint: its status and how far its deliveries got",
        responses={200: RecoveryOutputSerializer, **COMMON_ERRORS},
    )
    def get(self, request: Request, endpoint_id: str, recovery_id: str) -> Response:
        recovery = selectors.recovery_get(user=request.user, endpoint_id=endpoint_id, recovery_id=recovery_id)
        if recovery is None:
            raise Http404
        return _recovery_response(request, recovery)


class DeliveryListApi(OwnedEndpointApi):
    pagination_class = NewestFirstCursorPagination

    @extend_schema(
        operation_id="webhook_deliveries_list",
        summary="The endpoint's delivery log, newest first, each delivery with its attempts",
        responses={200: DeliveryOutputSerializer(many=True), **COMMON_ERRORS},
    )
    def get(self, request: Request, endpoint_id: str) -> Response:
        endpoint = _endpoint_or_404(request, endpoint_id)
        deliveries = selectors.delivery_list(endpoint=endpoint)
        paginator = self.pagination_class()
        page = paginator.paginate_queryset(deliveries, request, view=self)
        context = {"request": request, "endpoint": endpoint}
        return paginator.get_paginated_response(DeliveryOutputSerializer(page, many=True, context=context).data)


class DeliveryRedeliverApi(OwnedEndpointApi):
    @extend_schema(
        operation_id="webhook_deliveries_redeliver",
        summary="Send a delivery again, with the same event id",
        request=None,
        responses={202: DeliveryOutputSerializer, **COMMON_ERRORS},
    )
    def post(self, request: Request, endpoint_id: str, delivery_id: str) -> Response:
        delivery = _delivery_or_404(request, endpoint_id, delivery_id)
        try:
            delivery = delivery_redeliver(delivery=delivery)
        except DeliveryInFlight as error:
            raise Conflict(str(error)) from error
        context = {"request": request, "endpoint": _endpoint_or_404(request, endpoint_id)}
        return Response(DeliveryOutputSerializer(delivery, context=context).data, status=status.HTTP_202_ACCEPTED)


class CallbackSecretApi(APIView):
    @extend_schema(
        operation_id="callback_secret_retrieve",
        summary="Your callback signing secret (made on first use): it signs deliveries to a report's callback_url",
        responses={200: CallbackSecretOutputSerializer, 401: PROBLEM},
    )
    def get(self, request: Request) -> Response:
        secret = services.callback_secret_for(user=request.user)
        return Response(CallbackSecretOutputSerializer(secret).data)


class CallbackSecretRotateApi(APIView):
    @extend_schema(
        operation_id="callback_secret_rotate",
        summary="Replace your callback signing secret; the previous one keeps signing beside it for a while",
        request=None,
        responses={200: SecretRotationOutputSerializer, 401: PROBLEM},
    )
    def post(self, request: Request) -> Response:
        secret = services.callback_secret_rotate(user=request.user)
        return Response(SecretRotationOutputSerializer(secret).data)


def _phone_errors(error: Exception) -> APIException:
    """The API's answer to an error of the phone confirmation services (notifications/messages/phone.py)."""
    if isinstance(error, phone.PhoneCodeThrottled):
        return CodesThrottled(error)
    if isinstance(error, phone.PhoneNumberUnusable):
        return _field_errors(error, "phone_number")
    if isinstance(error, phone.PhoneCodeInvalid):
        return _field_errors(error, "code")
    if isinstance(error, phone.PhoneAlreadyConfirmed):
        return Conflict(str(error))
    return NotSent(str(error))


PHONE_ERRORS = (
    phone.PhoneCodeThrottled,
    phone.PhoneNumberUnusable,
    phone.PhoneCodeInvalid,
    phone.PhoneAlreadyConfirmed,
    phone.PhoneCodeNotSent,
)


class PreferencesApi(APIView):
    @extend_schema(
        operation_id="preferences_retrieve",
        summary="Your email and SMS notification preferences (the defaults until you change them)",
        responses={200: PreferencesOutputSerializer, 401: PROBLEM},
    )
    def get(self, request: Request) -> Response:
        return Response(PreferencesOutputSerializer(preferences.preferences_for(user=request.user)).data)

    @extend_schema(
        operation_id="preferences_update",
        summary="Change some of your notification preferences; SMS need a phone number, and a new number is texted "
        "a code to confirm it with",
        request=PreferencesUpdateInputSerializer,
        responses={200: PreferencesOutputSerializer, 400: PROBLEM, 401: PROBLEM, 415: PROBLEM, 429: CODES_THROTTLED},
    )
    def patch(self, request: Request) -> Response:
        payload = PreferencesUpdateInputSerializer(data=request.data)
        payload.is_valid(raise_exception=True)
        try:
            changed = preferences.preferences_update(user=request.user, **payload.validated_data)
        except preferences.PreferencesInvalid as error:
            raise ValidationError(error.errors) from error
        except PHONE_ERRORS as error:
            raise _phone_errors(error) from error
        return Response(PreferencesOutputSerializer(changed).data)


class PhoneConfirmApi(APIView):
    @extend_schema(
        operation_id="preferences_phone_confirm",
        summary="Confirm your phone number with the code texted to it; SMS go only to a confirmed number",
        request=PhoneConfirmInputSerializer,
        responses={
            200: PreferencesOutputSerializer,
            400: OpenApiResponse(
                ProblemSerializer, description="A wrong, expired or used-up code (errors.code), or no number"
            ),
            401: PROBLEM,
            409: ALREADY_CONFIRMED,
            415: PROBLEM,
        },
    )
    def post(self, request: Request) -> Response:
        payload = PhoneConfirmInputSerializer(data=request.data)
        payload.is_valid(raise_exception=True)
        try:
            confirmed = phone.phone_confirm(user=request.user, code=payload.validated_data["code"])
        except PHONE_ERRORS as error:
            raise _phone_errors(error) from error
        return Response(PreferencesOutputSerializer(confirmed).data)


class PhoneCodeResendApi(APIView):
    @extend_schema(
        operation_id="preferences_phone_resend",
        summary="Text a new code to your unconfirmed phone number (the previous code stops working)",
        request=None,
        responses={
            200: PreferencesOutputSerializer,
            400: OpenApiResponse(ProblemSerializer, description="No number, or one SMS may not go to"),
            401: PROBLEM,
            409: ALREADY_CONFIRMED,
            429: CODES_THROTTLED,
            503: OpenApiResponse(ProblemSerializer, description="The SMS provider failed; try again in a minute"),
        },
    )
    def post(self, request: Request) -> Response:
        try:
            pending = phone.phone_code_resend(user=request.user)
        except PHONE_ERRORS as error:
            raise _phone_errors(error) from error
        return Response(PreferencesOutputSerializer(pending).data)
