"""Phone confirmation and the SMS counted against the limits (SPEC §19).

Data: the phone numbers already stored are kept, unconfirmed (`phone_confirmed_at` null). SMS stop going to them
until each owner confirms their number with a code, asked for on the preferences page or through the API
(POST /api/v1/preferences/phone/resend); their report SMS are logged as skipped meanwhile.
"""

import django.db.models.deletion
import django.utils.timezone
import phonenumber_field.modelfields
from django.conf import settings
from django.db import migrations, models


class Migration(migrations.Migration):

    dependencies = [
        ('auth', '0012_alter_user_first_name_max_length'),
        ('notifications', '0004_remove_old_delivery_logs'),
        migrations.swappable_dependency(settings.AUTH_USER_MODEL),
    ]

    operations = [
        migrations.CreateModel(
            name='PhoneConfirmation',
            fields=[
                ('user', models.OneToOneField(on_delete=django.db.models.deletion.CASCADE, primary_key=True, related_name='phone_confirmation', serialize=False, to=settings.AUTH_USER_MODEL)),
                ('phone_number', phonenumber_field.modelfields.PhoneNumberField(max_length=128, region=None)),
                ('code_hash', models.CharField(max_length=64)),
                ('created_at', models.DateTimeField()),
                ('expires_at', models.DateTimeField()),
                ('failed_attempts', models.PositiveSmallIntegerField(default=0)),
            ],
        ),
        migrations.AddField(
            model_name='notificationpreferences',
            name='phone_confirmed_at',
            field=models.DateTimeField(blank=True, null=True),
        ),
        migrations.CreateModel(
            name='SmsSend',
            fields=[
                ('id', models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name='ID')),
                ('purpose', models.CharField(choices=[('report', 'Report notification'), ('phone_code', 'Phone confirmation code')], max_length=16)),
                ('phone_number', models.CharField(max_length=32)),
                ('delivery_id', models.CharField(blank=True, max_length=32)),
                ('attempt_number', models.PositiveIntegerField(blank=True, null=True)),
                ('error', models.CharField(blank=True, max_length=500)),
                ('created_at', models.DateTimeField(default=django.utils.timezone.now)),
                ('user', models.ForeignKey(db_index=False, on_delete=django.db.models.deletion.CASCADE, related_name='sms_sends', to=settings.AUTH_USER_MODEL)),
            ],
            options={
                'verbose_name': 'SMS sent',
                'verbose_name_plural': 'SMS sent',
                'ordering': ['-created_at'],
                'indexes': [models.Index(fields=['user', 'purpose', 'created_at'], name='sms_send_user_purpose_time')],
                'constraints': [models.UniqueConstraint(condition=models.Q(('purpose', 'report')), fields=('delivery_id', 'attempt_number'), name='one_sms_send_per_delivery_attempt')],
            },
        ),
    ]
