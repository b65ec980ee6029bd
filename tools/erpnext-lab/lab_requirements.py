"""Print the PyPI requirements of the apps' pyproject.toml files, one per line.

Direct references ("name @ git+https://...") cannot be fetched here (only package
registries are reachable), so they are replaced by the PyPI package of that name;
frappe's gunicorn fork (a 22.x/23.x gunicorn) becomes PyPI gunicorn 23.x, and Frappe 16's
pypika fork (frappe/pypika: upstream pypika's master of 2025 plus SQLite tweaks and a
setup.py that builds on Python 3.14) becomes PyPI's PyPika 0.51.1, a wheel with the same
API (pypika 0.48.9, what Frappe 15 pins, has only an sdist whose setup.py fails on 3.14)."""

import re
import sys
import tomllib

PYPI_STAND_INS = {"gunicorn": "gunicorn~=23.0", "pypika": "PyPika==0.51.1"}

for path in sys.argv[1:]:
    with open(path, "rb") as f:
        project = tomllib.load(f).get("project", {})
    for dep in project.get("dependencies", []):
        if "@" in dep:
            dep = re.split(r"\s*@", dep, maxsplit=1)[0].strip()
            dep = PYPI_STAND_INS.get(dep.lower(), dep)
        print(dep)
