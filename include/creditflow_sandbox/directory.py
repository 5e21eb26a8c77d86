"""The bureau's directory, as a sandbox: Debian's OpenLDAP server (``slapd``) in a folder of its own.

``make cluster`` and the LDAP sign-in tests start it; production points the FAB auth manager at the
bureau's own directory instead (``config/webserver_config.py``, README "Production: sign-in"). Nothing
here is a system service: the configuration, the database and the pid file live in ``root``; the server
listens on loopback only.

* The demo's people (:data:`PEOPLE`, password = user name, like the demo's Simple auth logins) under
  ``ou=people``, a service account for the auth manager's searches (``cn=airflow,ou=services``).
* One group per creditflow role under ``ou=groups`` (:data:`GROUPS`: ``groupOfNames``), with the
  ``memberof`` overlay, so a person's entry carries ``memberOf`` — the attribute FAB maps to roles
  (``AUTH_ROLES_MAPPING``), as Active Directory does.
* :meth:`Directory.remove_member` / :meth:`Directory.add_member` change a group through ``ldapmodify`` as
  an administrator would.

Standard library only (the ``ldap-utils`` commands do the LDAP work); ``make ldap-deps`` installs them.
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
import secrets
import shutil
import signal
import socket
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path

BASE_DN = "dc=yjglj,dc=zhuhai,dc=gov,dc=cn"  # 珠海市应急管理局
PEOPLE_DN = f"ou=people,{BASE_DN}"
GROUPS_DN = f"ou=groups,{BASE_DN}"
ADMIN_DN = f"cn=admin,{BASE_DN}"
SERVICE_DN = f"cn=airflow,ou=services,{BASE_DN}"

#: creditflow role (the FAB role the group maps to) → directory group (cn under ou=groups).
GROUPS: dict[str, str] = {
    "经办科室审核": "creditflow-review-1",
    "法规科审核": "creditflow-review-2",
    "信用管理": "creditflow-credit",
    "查看": "creditflow-viewer",
    "运维": "creditflow-ops",
}

#: The demo's people: uid → (姓名, the creditflow roles whose groups they are in). chief (科室负责人) is in both
#: review groups and may act at either level, never at both for one record (creditflow.reporting.review).
PEOPLE: dict[str, tuple[str, tuple[str, ...]]] = {
    "admin": ("系统管理员", ("运维",)),
    "reviewer1": ("经办科室审核员", ("经办科室审核", "信用管理")),
    "reviewer2": ("法规科审核员", ("法规科审核", "信用管理")),
    "chief": ("科室负责人", ("经办科室审核", "法规科审核", "信用管理")),
    "viewer": ("查看人员", ("查看",)),
}

SLAPD_CANDIDATES = ("slapd", "/usr/sbin/slapd")
ENV_FILE = "fab_env.json"  # in the directory's folder: Directory.fab_env() of the running server
SCHEMAS = ("core", "cosine", "inetorgperson")


class DirectoryError(RuntimeError):
    """slapd or the ldap-utils commands are missing, or the server did not start."""


def slapd_binary() -> str | None:
    for name in SLAPD_CANDIDATES:
        found = shutil.which(name) or (name if os.access(name, os.X_OK) else None)
        if found:
            return found
    return None


def available() -> bool:
    """slapd and ldap-utils are installed (``make ldap-deps``)."""
    return slapd_binary() is not None and all(shutil.which(t) for t in ("ldapadd", "ldapmodify", "ldapsearch"))


def ssha(password: str) -> str:
    """``{SSHA}`` of ``password``: what slapd stores and compares a bind with."""
    salt = secrets.token_bytes(8)
    return "{SSHA}" + base64.b64encode(hashlib.sha1(password.encode() + salt).digest() + salt).decode()


def group_dn(role: str) -> str:
    return f"cn={GROUPS[role]},{GROUPS_DN}"


def person_dn(uid: str) -> str:
    return f"uid={uid},{PEOPLE_DN}"


def _free(port: int) -> bool:
    with socket.socket() as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            s.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


def _ldif(service_password: str, people: dict[str, tuple[str, tuple[str, ...]]]) -> str:
    blocks = [
        f"dn: {BASE_DN}\nobjectClass: dcObject\nobjectClass: organization\ndc: yjglj\no: 珠海市应急管理局",
        f"dn: {PEOPLE_DN}\nobjectClass: organizationalUnit\nou: people",
        f"dn: {GROUPS_DN}\nobjectClass: organizationalUnit\nou: groups",
        f"dn: ou=services,{BASE_DN}\nobjectClass: organizationalUnit\nou: services",
        f"dn: {SERVICE_DN}\nobjectClass: organizationalRole\nobjectClass: simpleSecurityObject\ncn: airflow\n"
        f"userPassword: {ssha(service_password)}\ndescription: creditflow 登录查询账号（只读）",
    ]
    for uid, (name, _roles) in people.items():
        blocks.append(f"dn: {person_dn(uid)}\nobjectClass: inetOrgPerson\nuid: {uid}\ncn: {name}\nsn: {name[:1]}\n"
                      f"givenName: {name[1:] or name}\ndisplayName: {name}\nmail: {uid}@yjglj.zhuhai.gov.cn\n"
                      f"userPassword: {ssha(uid)}")
    for role, cn in GROUPS.items():
        members = [person_dn(uid) for uid, (_n, roles) in people.items() if role in roles]
        # groupOfNames needs one member at least: an empty group holds the service account.
        lines = [f"member: {m}" for m in members or [SERVICE_DN]]
        blocks.append(f"dn: {group_dn(role)}\nobjectClass: groupOfNames\ncn: {cn}\n"
                      f"description: creditflow 角色 {role}\n" + "\n".join(lines))
    return "\n\n".join(blocks) + "\n"


def _config(root: Path, admin_password: str) -> str:
    schema_dir = Path("/etc/ldap/schema")
    includes = "\n".join(f"include {schema_dir / (s + '.schema')}" for s in SCHEMAS)
    return f"""{includes}
pidfile {root / 'slapd.pid'}
argsfile {root / 'slapd.args'}
modulepath /usr/lib/ldap
moduleload back_mdb
moduleload memberof
loglevel stats

database mdb
maxsize 67108864
suffix "{BASE_DN}"
rootdn "{ADMIN_DN}"
rootpw {ssha(admin_password)}
directory {root / 'data'}
index objectClass eq
index uid,member eq

overlay memberof
memberof-group-oc groupOfNames
memberof-member-ad member
memberof-memberof-ad memberOf
memberof-refint TRUE

access to attrs=userPassword
  by self =xw
  by anonymous auth
  by * none
access to *
  by dn.exact="{SERVICE_DN}" read
  by self read
  by users read
  by * none
"""


@dataclass
class Directory:
    """A running slapd (see :meth:`start`)."""

    root: Path
    port: int
    admin_password: str
    service_password: str
    process: subprocess.Popen[bytes] | None = field(default=None, repr=False)

    @property
    def url(self) -> str:
        return f"ldap://127.0.0.1:{self.port}"

    # -- start / stop -------------------------------------------------------------------------------
    @classmethod
    def start(cls, root: Path, port: int, *, people: dict[str, tuple[str, tuple[str, ...]]] | None = None,
              host: str = "127.0.0.1", service_password: str | None = None, timeout: float = 30) -> Directory:
        """A fresh directory in ``root`` (emptied first) on ``host:port``, loaded with ``people``; the service
        account's password is ``service_password`` (default: a new random one)."""
        binary = slapd_binary()
        if binary is None or not available():
            raise DirectoryError("slapd / ldap-utils are not installed (make ldap-deps)")
        if host == "127.0.0.1" and not _free(port):
            raise DirectoryError(f"port {port} is taken: another slapd (make cluster-stop) or another program")
        root = root.resolve()
        if root.exists():
            shutil.rmtree(root)
        (root / "data").mkdir(parents=True)
        directory = cls(root, port, secrets.token_urlsafe(16), service_password or secrets.token_urlsafe(16))
        (root / "slapd.conf").write_text(_config(root, directory.admin_password), encoding="utf-8")
        (root / "service.password").write_text(directory.service_password)
        (root / "service.password").chmod(0o600)
        log = (root / "slapd.log").open("ab")
        # -d keeps slapd in the foreground (this process owns it), logging to stderr → slapd.log.
        directory.process = subprocess.Popen(
            [binary, "-f", str(root / "slapd.conf"), "-h", f"ldap://{host}:{port}/", "-d", "256"],
            stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
        log.close()
        deadline = time.monotonic() + timeout
        while directory._search(ADMIN_DN, directory.admin_password, BASE_DN, "(objectClass=*)", scope="base",
                                check=False).returncode not in (0, 32):
            if directory.process.poll() is not None or time.monotonic() > deadline:
                directory.stop()
                tail = (root / "slapd.log").read_text(errors="replace")[-2000:]
                raise DirectoryError(f"slapd did not start on port {port}:\n{tail}")
            time.sleep(0.2)
        directory._modify("ldapadd", _ldif(directory.service_password, PEOPLE if people is None else people))
        env_file = root / ENV_FILE  # for other processes of the same shape (scripts/airflow --cluster)
        env_file.write_text(json.dumps(directory.fab_env(), ensure_ascii=False), encoding="utf-8")
        env_file.chmod(0o600)
        return directory

    def stop(self) -> None:
        proc, self.process = self.process, None
        if proc is None or proc.poll() is not None:
            return
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(15)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(5)

    def __enter__(self) -> Directory:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # -- administration ------------------------------------------------------------------------------
    def _run(self, tool: str, *args: str, input_text: str | None = None, check: bool = True
             ) -> subprocess.CompletedProcess[str]:
        result = subprocess.run([tool, "-x", "-H", self.url, *args], input=input_text, capture_output=True,
                                text=True, timeout=30, env={**os.environ, "LDAPTLS_REQCERT": "never"})
        if check and result.returncode != 0:
            raise DirectoryError(f"{tool} failed ({result.returncode}): {result.stderr.strip()}")
        return result

    def _search(self, bind_dn: str, password: str, base: str, filt: str, *attrs: str, scope: str = "sub",
                check: bool = True) -> subprocess.CompletedProcess[str]:
        return self._run("ldapsearch", "-D", bind_dn, "-w", password, "-b", base, "-s", scope, "-LLL", filt,
                         *attrs, check=check)

    def _modify(self, tool: str, ldif: str) -> None:
        self._run(tool, "-D", ADMIN_DN, "-w", self.admin_password, input_text=ldif)

    def remove_member(self, role: str, uid: str) -> None:
        """Take ``uid`` out of ``role``'s group (what the bureau's administrator does when duties change)."""
        self._modify("ldapmodify", f"dn: {group_dn(role)}\nchangetype: modify\ndelete: member\n"
                                   f"member: {person_dn(uid)}\n")

    def add_member(self, role: str, uid: str) -> None:
        self._modify("ldapmodify", f"dn: {group_dn(role)}\nchangetype: modify\nadd: member\n"
                                   f"member: {person_dn(uid)}\n")

    def member_of(self, uid: str) -> list[str]:
        """The ``memberOf`` group DNs of ``uid``'s entry (as the auth manager reads them)."""
        out = self._search(SERVICE_DN, self.service_password, PEOPLE_DN, f"(uid={uid})", "memberOf").stdout
        return [line.split(":", 1)[1].strip() for line in out.splitlines() if line.lower().startswith("memberof:")]

    def can_bind(self, uid: str, password: str) -> bool:
        return self._search(person_dn(uid), password, person_dn(uid), "(objectClass=*)", scope="base",
                            check=False).returncode == 0

    def fab_env(self) -> dict[str, str]:
        """Environment for ``config/webserver_config.py`` to use this directory."""
        return {
            "CREDITFLOW_LDAP_URL": self.url,
            "CREDITFLOW_LDAP_BIND_USER": SERVICE_DN,
            "CREDITFLOW_LDAP_BIND_PASSWORD": self.service_password,
            "CREDITFLOW_LDAP_SEARCH": PEOPLE_DN,
            "CREDITFLOW_LDAP_GROUPS": json.dumps({group_dn(role): role for role in GROUPS}, ensure_ascii=False),
        }


def main(argv: list[str] | None = None) -> int:
    """``python -m creditflow_sandbox.directory``: the directory in the foreground (the compose service
    ``directory``) until SIGTERM/Ctrl-C. The service account's password: ``CREDITFLOW_LDAP_BIND_PASSWORD``."""
    import argparse

    parser = argparse.ArgumentParser(prog="python -m creditflow_sandbox.directory", description=main.__doc__)
    parser.add_argument("--root", type=Path, default=Path("var/ldap"))
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8389)
    args = parser.parse_args(argv)
    directory = Directory.start(args.root, args.port, host=args.host,
                                service_password=os.environ.get("CREDITFLOW_LDAP_BIND_PASSWORD") or None)

    def on_term(*_: object) -> None:
        raise KeyboardInterrupt  # stop in the finally below, outside the signal handler

    signal.signal(signal.SIGTERM, on_term)
    print(f"directory on ldap://{args.host}:{args.port} ({BASE_DN}); people: {', '.join(PEOPLE)}", flush=True)
    try:
        assert directory.process is not None
        return directory.process.wait()
    except KeyboardInterrupt:
        return 0
    finally:
        directory.stop()


if __name__ == "__main__":
    raise SystemExit(main())
