"""The Airflow side of creditflow that DAGs and the triggerer import: on the path of every Airflow process,
never under plugins/ (so no module is imported under two names)."""
