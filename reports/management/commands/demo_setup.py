"""Create the demo admin (printing its password and API token) and a little demo data. Safe to run again."""

import secrets

from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group, Permission
from django.core.management.base import BaseCommand
from django.db import transaction
from rest_framework.authtoken.models import Token

DEMO_USERS = [
    ("alice", "Alice", "Martin", ["Finance"], True),
    ("bob", "Bob", "Nguyen", ["Support"], True),
    ("carol", "Carol", "Okafor", ["Finance", "Auditors"], True),
    ("dave", "Dave", "Schmidt", [], False),
]


class Command(BaseCommand):
    help = "Create or reset the demo admin and demo users; prints the admin's password and API token."

    def add_arguments(self, parser):
        parser.add_argument("--username", default="admin")

    @transaction.atomic
    def handle(self, *args, username: str, **options):
        users = get_user_model()
        password = secrets.token_urlsafe(12)
        admin, _ = users.objects.get_or_create(
            username=username, defaults={"email": f"{username}@example.com", "first_name": "Demo", "last_name": "Admin"}
        )
        admin.is_staff = admin.is_superuser = admin.is_active = True
        admin.set_password(password)
        admin.save()
        token, _ = Token.objects.get_or_create(user=admin)

        auditors, _ = Group.objects.get_or_create(name="Auditors")
        auditors.permissions.add(*Permission.objects.filter(codename__in=["view_user", "view_report"]))
        for login, first, last, group_names, active in DEMO_USERS:
            user, created = users.objects.get_or_create(
                username=login,
                defaults={"first_name": first, "last_name": last, "email": f"{login}@example.com", "is_active": active},
            )
            if created:
                user.set_unusable_password()
                user.save()
            for name in group_names:
                user.groups.add(Group.objects.get_or_create(name=name)[0])

        self.stdout.write(self.style.SUCCESS("Demo data ready."))
        self.stdout.write(f"  Admin user:      {username}")
        self.stdout.write(f"  Admin password:  {password}")
        self.stdout.write(f"  Admin API token: {token.key}")
