"""pyproject.toml: installs without setuptools' deprecation warnings."""

from __future__ import annotations

import re
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def test_the_license_is_an_spdx_expression_that_setuptools_reads_without_a_warning():
    project = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))
    # A TOML table (`{ text = ... }`) is deprecated since setuptools 77 and warns on every
    # install; a plain SPDX string needs setuptools 77 or later to build.
    assert project["project"]["license"] == "Apache-2.0"
    (setuptools,) = [r for r in project["build-system"]["requires"]
                     if r.startswith("setuptools")]
    minimum = re.fullmatch(r"setuptools>=(\d+)(\.\d+)*", setuptools)
    assert minimum and int(minimum.group(1)) >= 77
