"""The small Java helper of the JMX reader (``java/KafkascopeJmx.java``), shipped built.

JPype lets Python implement Java interfaces but not extend Java classes, and a connect
timeout for RMI needs an ``RMISocketFactory`` and an ``SSLContext`` subclass. So the helper
is Java, compiled into ``java/kafkascope-jmx.jar`` by ``make setup`` (git-ignored; package
data, so the wheel carries it and a JRE is enough at run time, no compiler). The jar records
the SHA-256 of the source it was built from, and a test fails when the two differ. Rebuild
after editing the source (``make`` does it when the source is newer)::

    .venv/bin/python -m kafkascope.sources.jmx.javajar
"""

from __future__ import annotations

import hashlib
import shutil
import subprocess
import tempfile
import zipfile
from pathlib import Path

HERE = Path(__file__).with_name("java")
SOURCE = HERE / "KafkascopeJmx.java"
JAR = HERE / "kafkascope-jmx.jar"
DIGEST_ENTRY = "kafkascope/jmx/source.sha256"
# Class files run on Java 11 and later (JPype needs 11+; the sandbox uses 17).
RELEASE = "11"


def source_digest() -> str:
    return hashlib.sha256(SOURCE.read_bytes()).hexdigest()


def jar_digest(jar: Path = JAR) -> str | None:
    """The source digest recorded in ``jar``, or None when it has none (or no jar)."""
    try:
        with zipfile.ZipFile(jar) as z:
            return z.read(DIGEST_ENTRY).decode().strip()
    except (OSError, KeyError, zipfile.BadZipFile):
        return None


def build(jar: Path = JAR) -> Path:
    """Compile the source with ``javac`` and write a reproducible jar (fixed timestamps)."""
    javac = shutil.which("javac")
    if javac is None:
        raise SystemExit("javac not found: install a JDK (apt-get install openjdk-17-jdk-headless)")
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp)
        subprocess.run(
            [javac, "--release", RELEASE, "-Xlint:all", "-Werror", "-d", str(out), str(SOURCE)],
            check=True,
        )
        classes = sorted(p for p in out.rglob("*.class"))
        tmp_jar = jar.with_suffix(".jar.tmp")
        with zipfile.ZipFile(tmp_jar, "w", zipfile.ZIP_DEFLATED) as z:
            for p in classes:
                info = zipfile.ZipInfo(p.relative_to(out).as_posix(), (1980, 1, 1, 0, 0, 0))
                info.compress_type = zipfile.ZIP_DEFLATED
                z.writestr(info, p.read_bytes())
            info = zipfile.ZipInfo(DIGEST_ENTRY, (1980, 1, 1, 0, 0, 0))
            z.writestr(info, source_digest() + "\n")
        tmp_jar.replace(jar)
    return jar


if __name__ == "__main__":
    print(build())
