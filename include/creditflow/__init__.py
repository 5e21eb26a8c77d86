"""creditflow — the work-safety credit data backbone of 珠海市应急管理局 (domain package, no Airflow)."""

__version__ = "0.1.0"
