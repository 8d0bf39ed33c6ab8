"""The notifications API (SPEC §4, §7, §8): webhook endpoints, their delivery log, the per-user callback secret,
and email/SMS preferences."""
