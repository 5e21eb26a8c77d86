# creditflow images, built by docker-compose.yaml:
#   runtime — the production image: Airflow and creditflow from the locked set (requirements.txt +
#             constraints.txt, the same pins as make demo and CI) without the test and lint tools; no
#             sandboxes, no generator, no tests.
#   sandbox — runtime + include/creditflow_sandbox (the outside systems' stand-ins and the data generator),
#             for the compose services platform, licensing and sandbox-seed only.
FROM python:3.11-slim AS runtime
ENV PIP_NO_CACHE_DIR=1 PIP_DISABLE_PIP_VERSION_CHECK=1 PYTHONUNBUFFERED=1 AIRFLOW_HOME=/opt/airflow
WORKDIR /opt/creditflow
COPY requirements.txt constraints.txt pyproject.toml ./
# The runtime set: requirements.txt minus the test and lint tools (every other pin comes from constraints.txt).
ARG DEV_ONLY="^(pytest|pytest-timeout|hypothesis|aiosmtpd|ruff|mypy|types-[A-Za-z0-9-]+|playwright)$"
# python-ldap (the FAB auth manager's LDAP sign-in) compiles against OpenLDAP's and SASL's headers: build
# tools only for the install, the shared libraries stay.
RUN apt-get update && apt-get install -y --no-install-recommends gcc libc6-dev libldap2-dev libsasl2-dev \
    && grep -v -E "${DEV_ONLY}" requirements.txt > requirements-runtime.txt \
    && pip install --upgrade "pip>=24" \
    && pip install -r requirements-runtime.txt -c constraints.txt \
    && pip check \
    && apt-get purge -y --auto-remove gcc libc6-dev libldap2-dev libsasl2-dev \
    && apt-get install -y --no-install-recommends libldap-2.5-0 libsasl2-2 \
    && rm -rf /var/lib/apt/lists/*
COPY include/creditflow ./include/creditflow
COPY include/creditflow_airflow ./include/creditflow_airflow
COPY include/sql ./include/sql
RUN pip install --no-deps -e .
COPY dags ./dags
COPY plugins ./plugins
COPY config ./config
RUN useradd --uid 50000 --gid 0 --home-dir /opt/airflow --create-home airflow \
    && mkdir -p /opt/airflow/logs /data \
    && chown -R airflow:0 /opt/airflow /data
ENV AIRFLOW__CORE__DAGS_FOLDER=/opt/creditflow/dags \
    AIRFLOW__CORE__PLUGINS_FOLDER=/opt/creditflow/plugins \
    AIRFLOW__CORE__LOAD_EXAMPLES=False \
    AIRFLOW__CORE__DEFAULT_TIMEZONE=Asia/Shanghai \
    CREDITFLOW_ROOT=/opt/creditflow \
    PYTHONPATH=/opt/creditflow/plugins
USER airflow

FROM runtime AS sandbox
USER root
# The directory stand-in (compose service `directory`) runs Debian's slapd, unconfigured as a system service.
RUN echo "slapd slapd/no_configuration boolean true" | debconf-set-selections \
    && apt-get update && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends slapd ldap-utils \
    && rm -rf /var/lib/apt/lists/*
COPY include/creditflow_sandbox ./include/creditflow_sandbox
RUN pip install --no-deps -e . && mkdir -p /sandbox && chown airflow:0 /sandbox
USER airflow
