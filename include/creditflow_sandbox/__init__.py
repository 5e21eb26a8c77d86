"""Runnable sandboxes of the systems the project does not own (platform, licensing system).

The case system is a database (``include/sql/casedb/schema.sql``) and the district inbox a folder;
both are filled by ``creditflow generate``.
"""

from __future__ import annotations

DEFAULT_PORTS = {"platform": 8701, "licensing": 8702}


def build_app(system: str, db_url: str | None = None):  # type: ignore[no-untyped-def]
    if system == "platform":
        from creditflow_sandbox.platform import create_app
    elif system == "licensing":
        from creditflow_sandbox.licensing import create_app  # type: ignore[assignment]
    else:
        raise ValueError(f"unknown sandbox {system!r}")
    return create_app(db_url=db_url)


def serve(system: str, host: str = "127.0.0.1", port: int | None = None, db_url: str | None = None) -> None:
    import uvicorn

    uvicorn.run(build_app(system, db_url), host=host, port=port or DEFAULT_PORTS[system],
                log_level="warning", timeout_keep_alive=5)
