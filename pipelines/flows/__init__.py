"""Entry points of the three DAGs' tasks: small values in and out, one pipeline step each.

Airflow calls these from ``dags/``; the CLI and the tests call them directly, without a scheduler.
"""
