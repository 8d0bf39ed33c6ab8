"""`user_access`: who can sign in and with which powers, for an access review."""

from typing import Any

from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group
from django.db.models import Prefetch

from reports.registry import BuildContext, ReportType, register


@register
class UserAccessReport(ReportType):
    key = "user_access"
    title = "User access review"
    description = "Every user with their groups, staff and superuser flags, whether active, last login and join date."
    template_name = "reports/pdf/user_access.html"
    required_permission = "auth.view_user"
    timeout = 300
    parameters_schema = {
        "type": "object",
        "properties": {
            "include_inactive": {
                "type": "boolean",
                "default": True,
                "title": "Include inactive users",
            },
            "staff_only": {"type": "boolean", "default": False, "title": "Only staff users"},
        },
        "additionalProperties": False,
    }

    def build(self, context: BuildContext) -> dict[str, Any]:
        users = (
            get_user_model()
            .objects.order_by("username")
            .prefetch_related(Prefetch("groups", queryset=Group.objects.order_by("name")))
        )
        if not context.parameters.get("include_inactive", True):
            users = users.filter(is_active=True)
        if context.parameters.get("staff_only"):
            users = users.filter(is_staff=True)
        rows = [
            {
                "username": user.get_username(),
                "name": user.get_full_name(),
                "groups": ", ".join(group.name for group in user.groups.all()),
                "is_staff": user.is_staff,
                "is_superuser": user.is_superuser,
                "is_active": user.is_active,
                "last_login": user.last_login,
                "date_joined": user.date_joined,
            }
            for user in users
        ]
        context.set_progress(50)
        return {
            "users": rows,
            "totals": {
                "users": len(rows),
                "active": sum(row["is_active"] for row in rows),
                "staff": sum(row["is_staff"] for row in rows),
                "superusers": sum(row["is_superuser"] for row in rows),
            },
        }
