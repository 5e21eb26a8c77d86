"""creditflow's Airflow-facing code: what the DAG files, the plugin and the triggerer import.

``creditflow`` (beside this package) holds the domain logic and never imports Airflow; this package is the
thin layer between the two — connections made into engines and clients (``hooks``), failure notifiers and
task defaults (``notifiers``), the daily timetable and a run's day (``timetables``), the credit DAGs' shared
tasks (``credit_tasks``), OpenLineage naming (``lineage``), the Jinja macros (``macros``), the 双公示 DAGs' stage tasks
(``sgs_tasks``) and the receipt-wait trigger the triggerer runs (``triggers``).

It lives on the ordinary import path (``include/``, installed with the project), not in the plugins folder:
Airflow's plugin loader executes every ``.py`` file of that folder as a fresh top-level module, so a module
the DAGs also imported would exist twice (two copies of every class and cache). ``plugins/creditflow_plugin.py``
only registers what is defined here. Nothing is imported at package level: a DAG file that needs only the
notifiers pays for nothing else.
"""
