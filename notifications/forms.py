"""The preferences form of the web UI. It only turns what the browser sends into values; the rules that concern
the preferences as a whole are the service's (`preferences.preferences_update`), whose messages it shows."""

from django import forms
from phonenumber_field.formfields import PhoneNumberField

from notifications.messages.preferences import PreferencesInvalid


class PreferencesForm(forms.Form):
    email_on_success = forms.BooleanField(required=False, label="Email me when a report is ready")
    email_on_failure = forms.BooleanField(required=False, label="Email me when a report failed")
    phone_number = PhoneNumberField(
        required=False,
        label="Mobile phone number",
        help_text="In international format, with the country code: +14155552671.",
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
