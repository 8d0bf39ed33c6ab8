"""The webhooks API (SPEC §4, §7): endpoints, their delivery log, and the per-user callback secret."""
