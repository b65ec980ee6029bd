"""The house's shape, as a newcomer relies on it: one ``tillmesh`` namespace, packages that
say what they hold, API areas that stand alone, an app that sees only the client."""

from __future__ import annotations

import ast
import importlib
import os
import pkgutil
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

import tillmesh

ROOT = Path(__file__).resolve().parent.parent
TOP_FOLDERS = ("node", "replication", "ui", "lab")


def _packages() -> list[str]:
    return sorted(
        info.name for info in pkgutil.walk_packages(tillmesh.__path__, "tillmesh.")
        if info.ispkg
    )


def _isort_key(name: str) -> tuple[int, str]:
    return (0 if name.isupper() else 1 if name[:1].isupper() else 2, name)


def _source_files(folder: str) -> list[Path]:
    return sorted((ROOT / folder).rglob("*.py"))


@pytest.mark.slow
def test_the_wheel_installs_one_top_level_name(tmp_path: Path) -> None:
    source = tmp_path / "source"  # a copy, so no build/ of an earlier layout can leak in
    shutil.copytree(ROOT, source, symlinks=True, ignore=shutil.ignore_patterns(
        ".git", ".venv", "var", "build", "*.egg-info", "__pycache__", ".*_cache"))
    subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-q",
         "-w", str(tmp_path), str(source)],
        check=True, capture_output=True, timeout=300)
    (wheel,) = tmp_path.glob("tillmesh-*.whl")
    names = zipfile.ZipFile(wheel).namelist()
    top = {name.split("/", 1)[0] for name in names}
    assert {t for t in top if not t.endswith(".dist-info")} == {"tillmesh"}
    for folder in TOP_FOLDERS:  # the links were followed: the code itself is inside
        assert f"tillmesh/{folder}/__init__.py" in names
    assert "tillmesh/lab/erpnext_simulator/_pos.py" in names
    entry = next(n for n in names if n.endswith("entry_points.txt"))
    assert "tillmesh = tillmesh.node.ops.cli:main" in zipfile.ZipFile(wheel).read(entry).decode()

    # Installed from the wheel (not this checkout), the demo's parts still come along.
    target, data = tmp_path / "site-packages", tmp_path / "demo"
    subprocess.run([sys.executable, "-m", "pip", "install", "--no-deps", "-q", "--target",
                    str(target), str(wheel)], check=True, capture_output=True, timeout=300)
    env = {**os.environ, "PYTHONPATH": str(target)}

    def tillmesh_cli(*args: str, stdin: str = "") -> str:
        return subprocess.run(
            [sys.executable, "-m", "tillmesh.node.ops.cli", "--data-dir", str(data), *args],
            input=stdin, check=True, capture_output=True, text=True, timeout=120, env=env,
            cwd=tmp_path).stdout

    where = subprocess.run([sys.executable, "-c", "import tillmesh; print(tillmesh.__file__)"],
                           check=True, capture_output=True, text=True, env=env,
                           cwd=tmp_path).stdout
    assert where.startswith(str(target))
    tillmesh_cli("init", "--demo", "--listen", "tcp://127.0.0.1:0",
                 "--join-listen", "tcp://127.0.0.1:0", "--no-mdns", stdin="1234\n")
    assert "Demo Cashier" in tillmesh_cli("users")  # the demo data was loaded
    simulator = subprocess.run([sys.executable, "-m", "tillmesh.lab.erpnext_simulator",
                                "--help"], check=True, capture_output=True, text=True,
                               env=env, cwd=tmp_path).stdout
    assert "--port" in simulator


def test_no_module_imports_the_old_top_level_names() -> None:
    offenders = []
    for folder in (*TOP_FOLDERS, "tests"):
        for path in _source_files(folder):
            for node in ast.walk(ast.parse(path.read_text())):
                if isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                    names = [node.module]
                elif isinstance(node, ast.Import):
                    names = [alias.name for alias in node.names]
                else:
                    continue
                offenders += [f"{path.relative_to(ROOT)}: {n}" for n in names
                              if n.split(".")[0] in TOP_FOLDERS]
    assert offenders == []


@pytest.mark.parametrize("package", _packages())
def test_every_package_says_what_lives_there_and_exports_a_sorted_surface(
        package: str) -> None:
    module = importlib.import_module(package)
    doc = module.__doc__ or ""
    assert len(doc.split()) >= 15, f"{package} needs a docstring saying what lives there"
    exported = getattr(module, "__all__", None)
    if exported is not None:  # sorted as ruff sorts it: CONSTANTS, Classes, functions
        assert list(exported) == sorted(exported, key=_isort_key)
        assert [n for n in exported if not hasattr(module, n)] == []


def test_no_module_name_means_two_things() -> None:
    """A module's name appears once in the node (a package's own ``__init__`` aside), so
    ``shifts`` or ``users`` always points at one file."""
    seen: dict[str, list[str]] = {}
    for path in _source_files("node"):
        if path.name != "__init__.py":
            seen.setdefault(path.stem.lstrip("_"), []).append(str(path.relative_to(ROOT)))
    twice = {name: where for name, where in seen.items() if len(where) > 1}
    allowed = {"const"}  # each package's constants module, by design
    assert {n: w for n, w in twice.items() if n not in allowed} == {}


def _imports_in_fresh_interpreter(module: str) -> set[str]:
    code = ("import sys, importlib; importlib.import_module(sys.argv[1]); "
            "print('\\n'.join(sorted(sys.modules)))")
    out = subprocess.run([sys.executable, "-c", code, module], check=True,
                         capture_output=True, text=True, timeout=60).stdout
    return set(out.split())


AREAS = ("auth", "checkout", "display", "returns", "shifts", "cluster", "info", "printing",
         "erpnext")


@pytest.mark.parametrize("area", AREAS)
def test_an_api_area_imports_no_other_area(area: str) -> None:
    loaded = _imports_in_fresh_interpreter(f"tillmesh.node.api.{area}")
    others = {f"tillmesh.node.api.{a}" for a in AREAS if a != area}
    assert loaded & (others | {"tillmesh.node.api.dispatch"}) == set()


def test_every_area_method_is_served_and_documented() -> None:
    from tillmesh.node.api.dispatch import METHODS, methods_table

    assert {"login", "sale_submit", "return_create", "shift_close", "erpnext_status",
            "exception_retry", "receipt_print", "invite_create", "status", "customer_display",
            "cart_tender_draft"} <= set(METHODS)
    table = methods_table()
    for name, spec in METHODS.items():
        assert spec.summary and f"| `{name}` |" in table


def test_the_app_imports_only_the_client_and_the_error_tree() -> None:
    allowed = {"tillmesh.node.api.client", "tillmesh.node.errors"}
    found = set()
    for path in _source_files("ui"):
        for node in ast.walk(ast.parse(path.read_text())):
            if (isinstance(node, ast.ImportFrom) and node.module and node.level == 0
                    and node.module.startswith(("tillmesh.node", "tillmesh.replication",
                                                "tillmesh.lab"))):
                found.add(node.module)
    assert found <= allowed


def test_the_app_starts_without_loading_the_counters_store() -> None:
    # The app talks to its node through the client: the store, projections, SQLAlchemy and
    # the ERPNext link are the node's, and loading them cost the app a second at every start.
    loaded = _imports_in_fresh_interpreter("tillmesh.ui.app")
    heavy = ("sqlalchemy", "tillmesh.node.store", "tillmesh.node.projections._registry",
             "tillmesh.node.erpnext", "tillmesh.node.api._node")
    assert sorted(m for m in loaded if m.startswith(heavy)) == []


def test_a_counter_at_run_time_never_loads_the_lab() -> None:
    loaded = _imports_in_fresh_interpreter("tillmesh.node.ops.daemon")
    assert {m for m in loaded if m.startswith("tillmesh.lab")} == set()
    assert "tillmesh.node.api.dispatch" in loaded  # the daemon serves every area


def test_the_readme_lists_every_method_as_the_records_say() -> None:
    from tillmesh.node.api.dispatch import README_END, README_START, methods_table

    text = (ROOT / "README.md").read_text()
    start = text.index("\n", text.index(README_START)) + 1
    assert text[start:text.index(README_END, start)] == methods_table(), (
        "run `python -m tillmesh.node.api.dispatch README.md`")
