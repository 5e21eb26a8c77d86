-- docker-compose.yaml, service postgres: the creditflow warehouse beside Airflow's own database.
-- (The 执法案件系统 stand-in has its own server, case-db; the sandboxes keep SQLite files.)
CREATE DATABASE creditflow;
