"""The package's layout rules (docs/architecture.md), checked on the code itself.

Each test reads the source with ``ast`` and fails naming the file and line that breaks a
rule, so a regression is caught by the rule, not by a list of today's names.
"""

from __future__ import annotations

import ast
import re
from collections import defaultdict
from collections.abc import Iterator
from pathlib import Path

PACKAGE = Path(__file__).resolve().parents[2] / "src" / "kafkascope"

#: The floors, lowest first. A module may import its own top-level package and anything on
#: a lower floor; never sideways into another package of its floor, never up.
FLOORS: dict[str, int] = {
    "": 0,  # kafkascope/__init__.py (the version)
    "model": 0,
    "clock": 0,
    "errors": 0,
    "scheduler": 0,
    "config": 1,
    "sources": 1,
    "evaluate": 1,
    "store": 1,
    "sandbox": 1,
    "monitor": 2,
    "alerts": 3,
    "service": 4,
    "api": 5,
    "cli": 6,
}

#: The one sanctioned exception: config validates [alerts.rules.NAME] against the pack,
#: which is data only.
ALLOWED = {("config", "kafkascope.alerts.pack")}

MAX_LINES = 650
SIZE_NOTE = "Size:"


def modules() -> Iterator[tuple[Path, str]]:
    for path in sorted(PACKAGE.rglob("*.py")):
        rel = path.relative_to(PACKAGE).with_suffix("")
        parts = [p for p in rel.parts if p != "__init__"]
        yield path, ".".join(["kafkascope", *parts])


def room(dotted: str) -> str:
    """``kafkascope.monitor.lag`` → ``monitor``; ``kafkascope`` → ``""``."""
    parts = dotted.split(".")
    return parts[1] if len(parts) > 1 else ""


def imports(path: Path, dotted: str) -> Iterator[tuple[int, str]]:
    """Every kafkascope module ``path`` imports, lazily or not, with its line."""
    tree = ast.parse(path.read_text(), str(path))
    package = dotted if path.name == "__init__.py" else dotted.rpartition(".")[0]
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                if alias.name.startswith("kafkascope"):
                    yield node.lineno, alias.name
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")
                base = base[: len(base) - node.level + 1]
                target = ".".join([*base, node.module] if node.module else base)
            else:
                target = node.module or ""
            if target.startswith("kafkascope"):
                # ``from kafkascope.sources.jmx import jvm``: the submodule is the import.
                for alias in node.names:
                    sub = f"{target}.{alias.name}"
                    sub_path = PACKAGE.joinpath(*sub.split(".")[1:])
                    named = sub_path.with_suffix(".py").exists() or sub_path.is_dir()
                    yield node.lineno, sub if named else target


def test_floor_table_covers_every_room() -> None:
    """A new top-level package must be given a floor before it can be checked."""
    rooms = {room(dotted) for _, dotted in modules()}
    assert rooms <= set(FLOORS), f"rooms without a floor: {sorted(rooms - set(FLOORS))}"


def test_imports_only_run_down() -> None:
    upward = []
    for path, dotted in modules():
        here = room(dotted)
        for line, target in imports(path, dotted):
            there = room(target)
            if there == here or (here, target) in ALLOWED:
                continue
            if FLOORS[there] >= FLOORS[here] and FLOORS[there] != 0:
                rel = path.relative_to(PACKAGE.parent)
                upward.append(
                    f"{rel}:{line} ({here}, floor {FLOORS[here]}) imports {target} "
                    f"({there}, floor {FLOORS[there]})"
                )
    assert not upward, "imports that run up or sideways:\n" + "\n".join(upward)


_SQL = re.compile(
    r"\b(SELECT\b.+\bFROM|INSERT\s+(OR\s+\w+\s+)?INTO|DELETE\s+FROM|UPDATE\s+\w+\s+SET|"
    r"CREATE\s+(TABLE|INDEX)|PRAGMA\s+\w+)",
    re.IGNORECASE | re.DOTALL,
)


def test_all_sql_lives_in_store() -> None:
    """Other rooms call the store's typed functions; only ``store/`` speaks SQL."""
    found = []
    for path, dotted in modules():
        if room(dotted) == "store":
            continue
        tree = ast.parse(path.read_text(), str(path))
        for node in ast.walk(tree):
            if isinstance(node, ast.Import | ast.ImportFrom):
                names = (
                    [a.name for a in node.names]
                    if isinstance(node, ast.Import)
                    else [node.module or ""]
                )
                if "sqlite3" in names:
                    found.append(
                        f"{path.relative_to(PACKAGE.parent)}:{node.lineno} imports sqlite3"
                    )
            if (
                isinstance(node, ast.Constant)
                and isinstance(node.value, str)
                and _SQL.search(node.value)
                and not _is_docstring(tree, node)
            ):
                found.append(f"{path.relative_to(PACKAGE.parent)}:{node.lineno} SQL text")
    assert not found, "SQL outside store/:\n" + "\n".join(found)


def _is_docstring(tree: ast.Module, node: ast.Constant) -> bool:
    for owner in ast.walk(tree):
        if isinstance(owner, ast.Module | ast.ClassDef | ast.FunctionDef | ast.AsyncFunctionDef):
            body = owner.body
            if body and isinstance(body[0], ast.Expr) and body[0].value is node:
                return True
    return False


def test_type_names_are_defined_once() -> None:
    """A class or type alias name means one thing across the package (no two ``Route``)."""
    where: dict[str, list[str]] = defaultdict(list)
    for path, dotted in modules():
        tree = ast.parse(path.read_text(), str(path))
        for node in tree.body:
            name = None
            if isinstance(node, ast.ClassDef):
                name = node.name
            elif (
                isinstance(node, ast.Assign | ast.AnnAssign)
                and _alias_value(node)
                and (target := _single_target(node)) is not None
                and target[:1].isupper()
                and not target.isupper()
            ):
                name = target
            if name is not None and not name.startswith("_"):
                where[name].append(f"{dotted}:{node.lineno}")
    twice = {n: places for n, places in where.items() if len(places) > 1}
    assert not twice, "type names defined more than once:\n" + "\n".join(
        f"{n}: {', '.join(p)}" for n, p in sorted(twice.items())
    )


def _single_target(node: ast.Assign | ast.AnnAssign) -> str | None:
    targets = node.targets if isinstance(node, ast.Assign) else [node.target]
    if len(targets) == 1 and isinstance(targets[0], ast.Name):
        return targets[0].id
    return None


def _alias_value(node: ast.Assign | ast.AnnAssign) -> bool:
    """``X = tuple[str, int]`` or ``X = SomeClass``: an alias, not a constant value."""
    value = node.value
    if isinstance(node, ast.AnnAssign):
        ann = node.annotation
        if not (isinstance(ann, ast.Name) and ann.id == "TypeAlias"):
            return False
    return isinstance(value, ast.Subscript | ast.Name) or (
        isinstance(value, ast.BinOp) and isinstance(value.op, ast.BitOr)
    )


def test_modules_stay_small_or_say_why() -> None:
    """A module over ~600 lines holds one concept that needs the room, and its docstring
    says so in a paragraph starting with ``Size:``."""
    long = []
    for path, _ in modules():
        lines = path.read_text().count("\n")
        if lines <= MAX_LINES:
            continue
        doc = ast.get_docstring(ast.parse(path.read_text())) or ""
        if SIZE_NOTE not in doc:
            long.append(f"{path.relative_to(PACKAGE.parent)}: {lines} lines, no '{SIZE_NOTE}'")
    assert not long, "long modules that do not say why:\n" + "\n".join(long)
