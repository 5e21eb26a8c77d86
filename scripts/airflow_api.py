"""The one client of Airflow 3.3's REST API (``/api/v2``) for ``scripts/`` and ``bench/``.

``make demo`` (:mod:`demo`), ``make cluster`` (:mod:`cluster`) and the DAG-run benchmark (``bench/dagruns.py``)
each had their own copy of the same ~15 lines: log in with ``POST /auth/token`` (Airflow's simple auth
manager), keep the bearer token on a ``requests`` session that never goes through a proxy (loopback), call
``/api/v2``. The official ``apache-airflow-client`` is not in the project's environment and would add a
generated package of several hundred modules for five endpoints, so this module is the one copy.
"""

from __future__ import annotations

import time
from typing import Any

__all__ = ["Api", "wait_http"]


class Api:
    """Airflow's REST API as ``user`` (password = user name, as the demo and the cluster create them); the
    token is renewed when it expires (a 401 is answered by one new login and one retry)."""

    def __init__(self, base: str, user: str = "admin") -> None:
        import requests

        self.base, self.user = base, user
        self.session = requests.Session()
        self.session.trust_env = False  # loopback: never through a proxy
        self._login()

    def _login(self) -> None:
        r = self.session.post(f"{self.base}/auth/token", json={"username": self.user, "password": self.user},
                              timeout=10)
        r.raise_for_status()
        self.session.headers["Authorization"] = f"Bearer {r.json()['access_token']}"

    def call(self, method: str, path: str, **kw: Any) -> Any:
        """The ``requests`` response of ``method /api/v2<path>`` (any status: the caller decides)."""
        r = self.session.request(method, f"{self.base}/api/v2{path}", timeout=30, **kw)
        if r.status_code == 401:
            self._login()
            r = self.session.request(method, f"{self.base}/api/v2{path}", timeout=30, **kw)
        return r

    def send(self, method: str, path: str, **kw: Any) -> Any:
        """The decoded JSON of ``method /api/v2<path>``; raises ``requests.HTTPError`` on a 4xx/5xx."""
        r = self.call(method, path, **kw)
        r.raise_for_status()
        return r.json()

    def json(self, path: str, **params: Any) -> Any:
        """``GET /api/v2<path>?params`` decoded; raises on a 4xx/5xx."""
        return self.send("GET", path, params=params)

    def wait_for_dags(self, dag_ids: list[str], timeout: float = 180) -> None:
        deadline = time.monotonic() + timeout
        while any(self.call("GET", f"/dags/{d}").status_code != 200 for d in dag_ids):
            if time.monotonic() > deadline:
                raise RuntimeError(f"DAGs {dag_ids} not parsed after {timeout:.0f}s (see dag-processor.log)")
            time.sleep(2)

    def unpause(self, dag_id: str) -> None:
        self.call("PATCH", f"/dags/{dag_id}", json={"is_paused": False}).raise_for_status()


def wait_http(url: str, seconds: float = 120, poll: float = 1.0, hint: str = "") -> None:
    """Wait until ``url`` answers (any status below 500); after ``seconds``, exit with ``hint`` (where to look)."""
    import requests

    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        try:
            if requests.get(url, timeout=2).status_code < 500:
                return
        except requests.RequestException:
            pass
        time.sleep(poll)
    raise SystemExit(f"{url} did not come up{hint}")
