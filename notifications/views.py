"""The notifications pages of the staff web UI (SPEC §9): email and SMS preferences, with the latest messages, and
the confirmation of the phone number (SPEC §19). Like every view, these only translate: a form in, a service call,
a page out."""

from django.conf import settings
from django.contrib import messages
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.http import require_http_methods, require_POST

from common.staff import staff_required
from notifications.forms import PhoneCodeForm, PreferencesForm
from notifications.messages import phone, selectors
from notifications.messages.preferences import PREFERENCE_FIELDS, PreferencesInvalid, preferences_update

RECENT_MESSAGES = 10


def _page(request: HttpRequest, form: PreferencesForm, code_form: PhoneCodeForm) -> HttpResponse:
    current = selectors.preferences_get(user=request.user)
    context = {
        "form": form,
        "code_form": code_form,
        "current": current,
        "phone_code_expires_at": selectors.phone_code_expires_at(preferences=current),
        "sms_daily_limit": settings.SMS_DAILY_LIMIT,
        "recent_messages": selectors.message_list(user=request.user)[:RECENT_MESSAGES],
    }
    status = 400 if form.errors or code_form.errors else 200
    return render(request, "notifications/preferences.html", context, status=status)


def _current_form(request: HttpRequest) -> PreferencesForm:
    current = selectors.preferences_get(user=request.user)
    return PreferencesForm(initial={field: getattr(current, field) for field in PREFERENCE_FIELDS})


@staff_required
@require_http_methods(["GET", "POST"])
def preferences(request: HttpRequest) -> HttpResponse:
    if request.method != "POST":
        return _page(request, _current_form(request), PhoneCodeForm())
    form = PreferencesForm(request.POST)
    if form.is_valid():
        try:
            preferences_update(user=request.user, **form.cleaned_data)
        except PreferencesInvalid as error:
            form.add_service_errors(error)
        except phone.PhoneCodeThrottled as error:
            form.add_error("phone_number", str(error))
        else:
            messages.success(request, "Notification preferences saved.")
            return redirect("notifications_ui:preferences")
    return _page(request, form, PhoneCodeForm())


@staff_required
@require_POST
def phone_confirm(request: HttpRequest) -> HttpResponse:
    code_form = PhoneCodeForm(request.POST)
    if code_form.is_valid():
        try:
            phone.phone_confirm(user=request.user, code=code_form.cleaned_data["code"])
        except phone.PhoneCodeInvalid as error:
            code_form.add_error("code", str(error))
        except (phone.PhoneNumberUnusable, phone.PhoneAlreadyConfirmed) as error:
            messages.info(request, str(error))
            return redirect("notifications_ui:preferences")
        else:
            messages.success(request, "Your phone number is confirmed.")
            return redirect("notifications_ui:preferences")
    return _page(request, _current_form(request), code_form)


@staff_required
@require_POST
def phone_code_resend(request: HttpRequest) -> HttpResponse:
    try:
        pending = phone.phone_code_resend(user=request.user)
    except (phone.PhoneCodeThrottled, phone.PhoneNumberUnusable, phone.PhoneCodeNotSent) as error:
        messages.error(request, str(error))
    except phone.PhoneAlreadyConfirmed as error:
        messages.info(request, str(error))
    else:
        messages.success(request, f"A new code was texted to {pending.phone_number}.")
    return redirect("notifications_ui:preferences")
