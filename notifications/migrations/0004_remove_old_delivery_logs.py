"""The webhook delivery log and the email/SMS log are the event log's now (0003 moved their rows)."""

from django.db import migrations


class Migration(migrations.Migration):
    dependencies = [
        ("notifications", "0003_deliveries_to_event_log"),
    ]

    operations = [
        migrations.DeleteModel(name="WebhookAttempt"),
        migrations.DeleteModel(name="NotificationMessage"),
        migrations.DeleteModel(name="WebhookDelivery"),
    ]
