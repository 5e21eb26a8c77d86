-- Databases of the compose deployment besides Airflow's own.
CREATE DATABASE creditflow;
CREATE DATABASE casedb;
CREATE DATABASE platform;
CREATE DATABASE licensing;
