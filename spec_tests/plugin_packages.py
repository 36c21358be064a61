"""Build and install small refint8 plugin distributions in tests, without network or setuptools.

``write_package`` lays out a pure-Python distribution with a ``refint8.backends`` entry point and a
tiny PEP 517 build backend of its own; ``pip_install`` installs it with pip into a target directory
(put on ``sys.path`` by the test), so the entry point is found exactly as an installed plugin's is.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

BUILD_BACKEND = '''\
"""A minimal PEP 517 build backend: a pure-Python wheel from pyproject.toml's [project] table.

Copies the files and directories listed in [tool.tinybuild] include, and writes METADATA, WHEEL,
entry_points.txt (from [project.entry-points]) and RECORD.
"""
import base64, hashlib, os, re, tomllib, zipfile


def _pyproject():
    with open("pyproject.toml", "rb") as handle:
        return tomllib.load(handle)


def _payload(data):
    project = data["project"]
    files = {}
    for item in data["tool"]["tinybuild"]["include"]:
        if os.path.isdir(item):
            for root, _, names in os.walk(item):
                for name in sorted(names):
                    if name.endswith(".py"):
                        path = os.path.join(root, name)
                        files[path.replace(os.sep, "/")] = open(path, "rb").read()
        else:
            files[item] = open(item, "rb").read()
    stem = re.sub(r"[-_.]+", "_", project["name"]).lower() + "-" + project["version"]
    info = stem + ".dist-info/"
    files[info + "METADATA"] = (f"Metadata-Version: 2.1\\nName: {project['name']}\\n"
                                f"Version: {project['version']}\\n").encode()
    files[info + "WHEEL"] = (b"Wheel-Version: 1.0\\nGenerator: tinybuild\\n"
                             b"Root-Is-Purelib: true\\nTag: py3-none-any\\n")
    groups = project.get("entry-points", {})
    files[info + "entry_points.txt"] = "".join(
        f"[{group}]\\n" + "".join(f"{k} = {v}\\n" for k, v in entries.items()) + "\\n"
        for group, entries in groups.items()).encode()
    record = []
    for path, content in files.items():
        digest = base64.urlsafe_b64encode(hashlib.sha256(content).digest()).rstrip(b"=").decode()
        record.append(f"{path},sha256={digest},{len(content)}")
    record.append(info + "RECORD,,")
    files[info + "RECORD"] = ("\\n".join(record) + "\\n").encode()
    return stem, files


def build_wheel(wheel_directory, config_settings=None, metadata_directory=None):
    stem, files = _payload(_pyproject())
    filename = stem + "-py3-none-any.whl"
    with zipfile.ZipFile(os.path.join(wheel_directory, filename), "w") as archive:
        for path, content in files.items():
            archive.writestr(path, content)
    return filename


def get_requires_for_build_wheel(config_settings=None):
    return []
'''

PYPROJECT = '''\
[build-system]
requires = []
build-backend = "tinybuild"
backend-path = ["."]

[project]
name = "{dist}"
version = "{version}"

[project.entry-points."refint8.backends"]
{entry_point} = "{module}"

[tool.tinybuild]
include = ["{module}"]
'''

def write_package(root: Path, dist: str, version: str, entry_point: str, module: str,
                   source: str) -> Path:
    directory = root / dist
    (directory / module).mkdir(parents=True)
    (directory / module / "__init__.py").write_text(source)
    (directory / "tinybuild.py").write_text(BUILD_BACKEND)
    (directory / "pyproject.toml").write_text(PYPROJECT.format(
        dist=dist, version=version, entry_point=entry_point, module=module))
    return directory


def pip_install(target: Path, *packages: Path) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, "-m", "pip", "install", "--quiet", "--disable-pip-version-check",
         "--no-deps", "--no-build-isolation", "--no-index", "--target", str(target),
         *map(str, packages)],
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
    )
