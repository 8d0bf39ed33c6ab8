"""API tokens in the admin, without their keys: no list, form, page title, breadcrumb or history entry shows a
token, as GitHub never shows one again. The key is shown once, in the message after it is made, for the admin to
hand over."""

from django.contrib import admin, messages
from django.http import HttpRequest
from rest_framework.authtoken.admin import TokenAdmin as DrfTokenAdmin
from rest_framework.authtoken.models import TokenProxy

from reports.models import ApiToken


class TokenAdmin(DrfTokenAdmin):
    list_display = ("user", "key_hint", "created")

    @admin.display(description="key")
    def key_hint(self, token: ApiToken) -> str:
        return f"{token.key[:4]}…"

    def save_model(self, request: HttpRequest, obj: ApiToken, form, change: bool) -> None:
        super().save_model(request, obj, form, change)
        if not change:
            self.message_user(
                request,
                f"The API token of {obj.user}: {obj.key} — copy it now, it is not shown again.",
                messages.WARNING,
            )


def register(site: admin.AdminSite) -> None:
    """Take the place of DRF's own token admin, which shows every key in full (its objects are named by their key)."""
    if site.is_registered(TokenProxy):
        site.unregister(TokenProxy)
    site.register(ApiToken, TokenAdmin)
