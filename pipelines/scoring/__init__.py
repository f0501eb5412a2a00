"""Batch scoring, a step a module: ``prepare`` → ``shard`` → ``budget`` → ``decisions`` (staged) → ``publish``."""
