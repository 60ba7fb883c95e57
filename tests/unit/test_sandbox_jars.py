"""Where the sandbox looks for the Kafka jars and keeps its directory, in a checkout and
installed (a copy of ``jars.py`` loaded from a site-packages layout), and how a Maven
failure is told in one line. Real directories; no Maven here (the wheel test runs it)."""

from __future__ import annotations

import importlib.util
import shutil
from pathlib import Path
from types import ModuleType

import pytest

from kafkascope.sandbox import jars

CHECKOUT = Path(__file__).resolve().parents[2]


def installed_copy(root: Path) -> ModuleType:
    """``jars.py`` as a wheel installs it: under ``lib/python3.11/site-packages``."""
    target = root / "venv/lib/python3.11/site-packages/kafkascope/sandbox/jars.py"
    target.parent.mkdir(parents=True)
    shutil.copyfile(jars.__file__, target)
    spec = importlib.util.spec_from_file_location("installed_jars", target)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def fill(lib: Path) -> Path:
    """A directory that passes for complete: the Kafka jar and the agents' folder."""
    (lib / "kafka").mkdir(parents=True)
    (lib / "kafka" / f"kafka_2.13-{jars.KAFKA_VERSION}.jar").write_bytes(b"")
    (lib / "agents").mkdir()
    return lib


@pytest.fixture
def env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> pytest.MonkeyPatch:
    for name in ("KAFKASCOPE_KAFKA_LIB", "KAFKASCOPE_CACHE", "XDG_CACHE_HOME", "XDG_STATE_HOME"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    return monkeypatch


def test_checkout_is_found_from_the_source_tree(env: pytest.MonkeyPatch) -> None:
    # This test runs from the checkout, so the checkout's kafka/lib comes first, then the
    # cache under $HOME (HOME is the test's own directory).
    assert jars.checkout() == CHECKOUT
    assert jars.candidates() == [
        CHECKOUT / "kafka" / "lib",
        Path(jars.cache_root()) / f"kafka-{jars.KAFKA_VERSION}",
    ]
    assert jars.default_sandbox_dir() == CHECKOUT / ".sandbox"


def test_installed_package_uses_the_cache_and_the_state_dir(
    env: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    installed = installed_copy(tmp_path)
    home = tmp_path / "home"
    # No checkout above site-packages: only the cache, and the sandbox under ~/.local/state.
    assert installed.checkout() is None
    assert installed.candidates() == [home / ".cache/kafkascope/kafka-4.3.1"]
    assert installed.default_sandbox_dir() == home / ".local/state/kafkascope/sandbox"


@pytest.mark.parametrize(
    ("variables", "cache", "sandbox"),
    [
        # KAFKASCOPE_CACHE names the cache root itself; the versioned folder goes under it.
        ({"KAFKASCOPE_CACHE": "/c"}, "/c/kafka-4.3.1", "~/.local/state/kafkascope/sandbox"),
        # XDG base directories are honoured when kafkascope's own variable is unset.
        ({"XDG_CACHE_HOME": "/x"}, "/x/kafkascope/kafka-4.3.1", None),
        ({"XDG_STATE_HOME": "/s"}, None, "/s/kafkascope/sandbox"),
        # kafkascope's own variable wins over XDG's.
        ({"KAFKASCOPE_CACHE": "/c", "XDG_CACHE_HOME": "/x"}, "/c/kafka-4.3.1", None),
    ],
)
def test_cache_and_state_directories_follow_the_environment(
    env: pytest.MonkeyPatch,
    tmp_path: Path,
    variables: dict[str, str],
    cache: str | None,
    sandbox: str | None,
) -> None:
    installed = installed_copy(tmp_path)
    for name, value in variables.items():
        env.setenv(name, value)
    home = tmp_path / "home"
    if cache is not None:
        assert installed.cache_lib_dir() == Path(cache)
    if sandbox is not None:
        assert installed.default_sandbox_dir() == Path(sandbox.replace("~", str(home)))


def test_first_complete_candidate_wins(env: pytest.MonkeyPatch, tmp_path: Path) -> None:
    installed = installed_copy(tmp_path)
    env.setenv("KAFKASCOPE_CACHE", str(tmp_path / "cache"))
    cached = tmp_path / "cache" / "kafka-4.3.1"
    # Nothing anywhere: the cache is where a fetch would put them.
    assert installed.default_lib_dir() == cached
    # A half-made folder (no agents/) is not complete; a full one is used as is.
    (cached / "kafka").mkdir(parents=True)
    (cached / "kafka" / "kafka_2.13-4.3.1.jar").write_bytes(b"")
    assert not installed.complete(cached)
    (cached / "agents").mkdir()
    assert installed.ensure_jars() == cached
    # KAFKASCOPE_KAFKA_LIB overrides every other place, complete or not.
    own = fill(tmp_path / "own")
    env.setenv("KAFKASCOPE_KAFKA_LIB", str(own))
    assert installed.ensure_jars() == own


@pytest.mark.parametrize(
    ("output", "line"),
    [
        # The first [ERROR] line names the cause; the advice after it would bury it.
        (
            "[INFO] Scanning\n[ERROR] Failed to execute goal on project x: Could not resolve "
            "dependencies\n[ERROR] \n[ERROR] To see the full stack trace, re-run with -e\n",
            "Failed to execute goal on project x: Could not resolve dependencies",
        ),
        # Without [ERROR] lines (a JVM that would not start), the last line is the cause.
        (
            "Error: JAVA_HOME is not defined correctly.\n  We cannot execute /x/bin/java\n",
            ("We cannot execute /x/bin/java"),
        ),
        ("", "no output"),
    ],
)
def test_maven_failure_is_one_line(output: str, line: str) -> None:
    assert jars._maven_error(output) == line
