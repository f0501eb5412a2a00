"""Batch scoring, one step a module: ``prepare`` → ``shard`` (with ``candidates`` and ``scorer``) → ``budget`` → ``decisions``."""
