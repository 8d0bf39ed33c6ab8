"""The staff UI of schedules (SPEC §18): list, create and edit (with the next five run times), pause, run now and
history; and the unsubscribe page that the scheduled emails link to."""

from zoneinfo import ZoneInfo

from django.contrib import messages
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.utils import timezone
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from common.staff import staff_required
from reports.parameters import ParameterError
from reports.selectors import report_types_for_user
from schedules import selectors, services
from schedules.channels import unsubscribe_claims
from schedules.forms import ScheduleForm, add_schedule_errors
from schedules.models import Schedule
from schedules.timing import ScheduleTimingInvalid, upcoming


def _own(request: HttpRequest, schedule_id: str) -> Schedule:
    schedule = selectors.schedule_get(user=request.user, schedule_id=schedule_id)
    if schedule is None:
        raise Http404("No such schedule of yours.")
    return schedule


def _upcoming(cron: str, zone_name: str) -> list:
    """The next five run times, in the schedule's timezone; empty while the cron or timezone is not valid."""
    try:
        return upcoming(cron, zone_name, timezone.now())
    except ScheduleTimingInvalid:
        return []


@staff_required
@require_GET
def schedule_list(request: HttpRequest) -> HttpResponse:
    return render(request, "ui/schedules/list.html", {"schedules": selectors.schedule_list(user=request.user)})


@staff_required
@require_http_methods(["GET", "POST"])
def schedule_edit(request: HttpRequest, schedule_id: str | None = None) -> HttpResponse:
    schedule = _own(request, schedule_id) if schedule_id else None
    types = report_types_for_user(user=request.user)
    initial = ScheduleForm.initial_of(schedule) if schedule else None
    form = ScheduleForm(types, request.POST if request.method == "POST" else None, initial=initial)
    if request.method == "POST" and form.is_valid():
        try:
            saved = services.schedule_save(owner=request.user, data=form.cleaned_data, schedule=schedule)
        except ParameterError as error:
            add_schedule_errors(form, error)
        else:
            messages.success(request, "Schedule saved.")
            return redirect("schedules_ui:detail", schedule_id=saved.id)
    cron, zone = (form[name].value() or "" for name in ("cron", "timezone"))
    context = {"form": form, "schedule": schedule, "upcoming": _upcoming(cron, zone)}
    return render(request, "ui/schedules/form.html", context, status=400 if form.errors else 200)


@staff_required
@require_GET
def schedule_detail(request: HttpRequest, schedule_id: str) -> HttpResponse:
    schedule = _own(request, schedule_id)
    context = {
        "schedule": schedule,
        "runs": selectors.schedule_runs(schedule=schedule)[:50],
        "upcoming": _upcoming(schedule.cron, schedule.timezone) if schedule.enabled else [],
        "zone": ZoneInfo(schedule.timezone),
    }
    return render(request, "ui/schedules/detail.html", context)


@staff_required
@require_POST
def schedule_pause(request: HttpRequest, schedule_id: str) -> HttpResponse:
    schedule = _own(request, schedule_id)
    services.schedule_save(owner=request.user, data={"enabled": not schedule.enabled}, schedule=schedule)
    messages.success(request, "Schedule resumed." if not schedule.enabled else "Schedule paused.")
    return redirect("schedules_ui:detail", schedule_id=schedule.id)


@staff_required
@require_POST
def schedule_run(request: HttpRequest, schedule_id: str) -> HttpResponse:
    run = services.schedule_run_now(schedule=_own(request, schedule_id))
    if run.report_id:
        messages.success(request, "Running now: its report was requested.")
    else:
        messages.error(request, f"It could not run: {run.error}")
    return redirect("schedules_ui:detail", schedule_id=schedule_id)


@csrf_exempt  # the signed token is the credential; RFC 8058's one-click POST comes from a mail client
@require_http_methods(["GET", "POST"])
def unsubscribe(request: HttpRequest, token: str) -> HttpResponse:
    """GET asks (link scanners must not unsubscribe anyone); POST removes the address from the schedule."""
    claims = unsubscribe_claims(token)
    if claims is None:
        return render(request, "ui/schedules/unsubscribe.html", {"invalid": True}, status=400)
    schedule_id, address = claims
    schedule = Schedule.objects.filter(pk=schedule_id).first()
    if request.method == "POST":
        removed = services.schedule_unsubscribe(schedule_id=schedule_id, address=address)
        return render(request, "ui/schedules/unsubscribe.html", {"done": True, "removed": removed, "address": address})
    return render(request, "ui/schedules/unsubscribe.html", {"schedule": schedule, "address": address})
