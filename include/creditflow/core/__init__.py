"""Shared core of every capability: the data standard, identifiers, normalisation, the official
working-day calendar, dated rule sets, the warehouse and the platform client. No Airflow imports."""
