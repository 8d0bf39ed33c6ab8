"""Serializers every API of the project shares: strict input, and the problem document for the OpenAPI schema."""

from typing import Any

from drf_spectacular.utils import OpenApiResponse
from rest_framework import serializers


class StrictInputSerializer(serializers.Serializer):
    """Refuses fields it does not know, so that a typo is an error rather than silently ignored."""

    def validate(self, attrs: dict[str, Any]) -> dict[str, Any]:
        unknown = sorted(set(self.initial_data) - set(self.fields)) if isinstance(self.initial_data, dict) else []
        if unknown:
            raise serializers.ValidationError({name: ["Unknown field."] for name in unknown})
        return attrs


class StrictBooleanField(serializers.BooleanField):
    """JSON true or false only: "yes", "true" or 1 are refused rather than read as booleans."""

    default_error_messages = {"invalid": "Must be true or false."}

    def to_internal_value(self, data: Any) -> bool:
        if isinstance(data, bool):
            return data
        self.fail("invalid")


class ProblemSerializer(serializers.Serializer):
    """RFC 9457 problem details (documentation only)."""

    type = serializers.CharField()
    title = serializers.CharField()
    status = serializers.IntegerField()
    detail = serializers.CharField()
    errors = serializers.DictField(child=serializers.ListField(child=serializers.CharField()), required=False)


PROBLEM = OpenApiResponse(ProblemSerializer, description="Problem details (application/problem+json)")
