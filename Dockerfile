# creditflow image: the same pinned set as make demo and CI (requirements.txt + constraints.txt).
FROM python:3.11-slim
ENV PIP_NO_CACHE_DIR=1 AIRFLOW_HOME=/opt/airflow PYTHONUNBUFFERED=1
WORKDIR /opt/creditflow
COPY requirements.txt constraints.txt pyproject.toml ./
RUN pip install --upgrade "pip>=24" && pip install -r requirements.txt -c constraints.txt
COPY include/creditflow ./include/creditflow
COPY include/sql ./include/sql
RUN pip install --no-deps -e .
COPY dags ./dags
COPY plugins ./plugins
COPY config ./config
ENV AIRFLOW__CORE__DAGS_FOLDER=/opt/creditflow/dags \
    AIRFLOW__CORE__PLUGINS_FOLDER=/opt/creditflow/plugins \
    AIRFLOW__CORE__LOAD_EXAMPLES=False \
    AIRFLOW__CORE__DEFAULT_TIMEZONE=Asia/Shanghai \
    PYTHONPATH=/opt/creditflow/plugins
