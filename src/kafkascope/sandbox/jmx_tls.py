"""JMX over TLS with password authentication for every sandbox JVM (``sandbox up --jmx-tls``).

The usual production setup, made at sandbox start under ``DIR/jmx-tls/``: a self-signed
certificate for 127.0.0.1 made with ``keytool``, the agent's TLS settings in an
``ssl.config.file`` (so no keystore password is on a command line), a
``jmxremote.password``/``jmxremote.access`` pair with one read-only user, and for kafkascope
a truststore holding the certificate plus the two passwords in files. Every secret file is
0600: the JMX agent refuses a password file that others can read. The agents run
``jmxremote.ssl=true`` with ``registry.ssl=false``: the RMI connection is TLS, the registry
lookup is not (the JDK's default, and the common case).
"""

from __future__ import annotations

import os
import secrets
import subprocess
from dataclasses import dataclass
from pathlib import Path

from kafkascope.errors import SandboxError

USERNAME = "monitor"
SUBDIR = "jmx-tls"


@dataclass(frozen=True)
class JmxTlsFiles:
    """Where the sandbox's JMX TLS material is; the names are fixed under ``DIR/jmx-tls``."""

    root: Path

    @property
    def keystore(self) -> Path:
        return self.root / "agent-keystore.p12"

    @property
    def ssl_config(self) -> Path:
        return self.root / "agent-ssl.properties"

    @property
    def password_file(self) -> Path:
        return self.root / "jmxremote.password"

    @property
    def access_file(self) -> Path:
        return self.root / "jmxremote.access"

    @property
    def truststore(self) -> Path:
        return self.root / "truststore.p12"

    @property
    def truststore_password(self) -> Path:
        return self.root / "truststore.password"

    @property
    def monitor_password(self) -> Path:
        return self.root / "monitor.password"

    @property
    def certificate(self) -> Path:
        return self.root / "agent.crt"

    def secret_files(self) -> list[Path]:
        return [
            self.ssl_config,
            self.password_file,
            self.access_file,
            self.truststore_password,
            self.monitor_password,
        ]


def files(directory: Path) -> JmxTlsFiles:
    return JmxTlsFiles(directory / SUBDIR)


def agent_flags(directory: Path) -> list[str]:
    """The ``com.sun.management.jmxremote`` flags that secure one JVM's JMX port."""
    f = files(directory)
    return [
        "-Dcom.sun.management.jmxremote.authenticate=true",
        f"-Dcom.sun.management.jmxremote.password.file={f.password_file}",
        f"-Dcom.sun.management.jmxremote.access.file={f.access_file}",
        "-Dcom.sun.management.jmxremote.ssl=true",
        "-Dcom.sun.management.jmxremote.registry.ssl=false",
        "-Dcom.sun.management.jmxremote.ssl.need.client.auth=false",
        f"-Dcom.sun.management.jmxremote.ssl.config.file={f.ssl_config}",
    ]


def _write_secret(path: Path, text: str) -> None:
    """Create ``path`` readable by its owner only, from the first byte."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as out:
        out.write(text)
    path.chmod(0o600)


def _keytool(java: str, args: list[str], env: dict[str, str]) -> None:
    keytool = Path(java).resolve().parent / "keytool"
    if not keytool.exists():
        raise SandboxError(
            f"keytool not found next to {java}; it makes the sandbox's JMX certificate. "
            "Fix: install a full JDK (apt-get install openjdk-17-jdk-headless)"
        )
    res = subprocess.run(
        [str(keytool), *args],
        capture_output=True,
        text=True,
        check=False,
        env={**os.environ, **env},
    )
    if res.returncode != 0:
        raise SandboxError(f"keytool {args[0]} failed: {res.stdout}{res.stderr}")


def make(directory: Path, java: str) -> JmxTlsFiles:
    """Create the certificate, the stores and the password files (replacing old ones)."""
    f = files(directory)
    f.root.mkdir(parents=True, exist_ok=True)
    f.root.chmod(0o700)
    for old in (f.keystore, f.truststore, f.certificate):
        old.unlink(missing_ok=True)
    key_pw, trust_pw, user_pw = (secrets.token_urlsafe(18) for _ in range(3))
    env = {"KS_KEY_PW": key_pw, "KS_TRUST_PW": trust_pw}
    _keytool(
        java,
        [
            "-genkeypair",
            "-alias",
            "jmx",
            "-keyalg",
            "EC",
            "-groupname",
            "secp256r1",
            "-validity",
            "30",
            "-dname",
            "CN=127.0.0.1, O=kafkascope sandbox",
            "-ext",
            "SAN=ip:127.0.0.1,dns:localhost",
            "-storetype",
            "PKCS12",
            "-keystore",
            str(f.keystore),
            "-storepass:env",
            "KS_KEY_PW",
        ],
        env,
    )
    f.keystore.chmod(0o600)
    _keytool(
        java,
        [
            "-exportcert",
            "-alias",
            "jmx",
            "-rfc",
            "-keystore",
            str(f.keystore),
            "-storepass:env",
            "KS_KEY_PW",
            "-file",
            str(f.certificate),
        ],
        env,
    )
    _keytool(
        java,
        [
            "-importcert",
            "-noprompt",
            "-alias",
            "sandbox-jmx",
            "-file",
            str(f.certificate),
            "-storetype",
            "PKCS12",
            "-keystore",
            str(f.truststore),
            "-storepass:env",
            "KS_TRUST_PW",
        ],
        env,
    )
    _write_secret(
        f.ssl_config,
        f"javax.net.ssl.keyStore={f.keystore}\n"
        f"javax.net.ssl.keyStorePassword={key_pw}\n"
        "javax.net.ssl.keyStoreType=PKCS12\n",
    )
    _write_secret(f.password_file, f"{USERNAME} {user_pw}\n")
    _write_secret(f.access_file, f"{USERNAME} readonly\n")
    _write_secret(f.truststore_password, trust_pw + "\n")
    _write_secret(f.monitor_password, user_pw + "\n")
    return f
