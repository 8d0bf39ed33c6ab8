"""The preferences forms of the web UI. They only turn what the browser sends into values; the rules that concern
the preferences as a whole, and the phone confirmation, are the services' (`preferences`, `phone`), whose messages
they show."""

from django import forms
from django.core.validators import RegexValidator
from phonenumber_field.formfields import PhoneNumberField

from notifications.messages.preferences import PreferencesInvalid

CODE_FORMAT = "Enter the 6-digit code sent to your phone."


class PreferencesForm(forms.Form):
    email_on_success = forms.BooleanField(required=False, label="Email me when a report is ready")
    email_on_failure = forms.BooleanField(required=False, label="Email me when a report failed")
    phone_number = PhoneNumberField(
        required=False,
        label="Mobile phone number",
        help_text="In international format, with the country code: +14155552671. A new number is texted a code.",
        widget=forms.TextInput(attrs={"type": "tel", "autocomplete": "tel", "placeholder": "+14155552671"}),
    )
    sms_on_success = forms.BooleanField(required=False, label="Text me when a report is ready")
    sms_on_failure = forms.BooleanField(required=False, label="Text me when a report failed")

    def clean_phone_number(self):
        return self.cleaned_data["phone_number"] or ""

    def add_service_errors(self, error: PreferencesInvalid) -> None:
        for field, messages in error.errors.items():
            for message in messages:
                self.add_error(field if field in self.fields else None, message)


class PhoneCodeForm(forms.Form):
    code = forms.CharField(
        label="Code",
        max_length=6,
        validators=[RegexValidator(r"^[0-9]{6}$", CODE_FORMAT)],
        error_messages={"required": CODE_FORMAT, "max_length": CODE_FORMAT},
        widget=forms.TextInput(
            attrs={"inputmode": "numeric", "autocomplete": "one-time-code", "pattern": "[0-9]{6}", "size": 8}
        ),
    )
