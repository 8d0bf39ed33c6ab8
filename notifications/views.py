"""The notifications pages of the staff web UI (SPEC §9): email and SMS preferences, with the latest messages.
Like every view, it only translates: a form in, a service call, a page out."""

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.http import require_http_methods

from notifications.forms import PreferencesForm
from notifications.messages import selectors
from notifications.messages.preferences import PREFERENCE_FIELDS, PreferencesInvalid, preferences_update

RECENT_MESSAGES = 10


@login_required
@require_http_methods(["GET", "POST"])
def preferences(request: HttpRequest) -> HttpResponse:
    if request.method == "POST":
        form = PreferencesForm(request.POST)
        if form.is_valid():
            try:
                preferences_update(user=request.user, **form.cleaned_data)
            except PreferencesInvalid as error:
                form.add_service_errors(error)
            else:
                messages.success(request, "Notification preferences saved.")
                return redirect("notifications_ui:preferences")
    else:
        current = selectors.preferences_get(user=request.user)
        form = PreferencesForm(initial={field: getattr(current, field) for field in PREFERENCE_FIELDS})
    context = {
        "form": form,
        "recent_messages": selectors.message_list(user=request.user)[:RECENT_MESSAGES],
    }
    return render(request, "ui/preferences.html", context, status=400 if form.errors else 200)
