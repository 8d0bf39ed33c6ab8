"""Writes the schema as SDL to graphapi/schema.graphql, the copy kept in the repository (a test compares them)."""

from pathlib import Path

from django.core.management.base import BaseCommand

from graphapi.schema import schema

SDL_FILE = Path(__file__).resolve().parents[2] / "schema.graphql"


class Command(BaseCommand):
    help = "Write the GraphQL schema (SDL) to graphapi/schema.graphql."

    def handle(self, *args, **options) -> None:
        SDL_FILE.write_text(schema.as_str() + "\n")
        self.stdout.write(f"Wrote {SDL_FILE}")
