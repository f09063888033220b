"""Packaging: the exact picows pin, the compiled/pure switch, what an installed package ships.

These run from the source tree and, through ``wheels/wheels.py check``, against an installed wheel
(compiled) and an installed sdist (pure); the archive checks themselves live in that script.
"""

from __future__ import annotations

import importlib.metadata
import importlib.util
import os
import re
import subprocess
import sys
import tomllib
from importlib import resources
from pathlib import Path

import picows
import pytest

import ocppfast
from ocppfast import _speedups
from ocppfast._speedups import PICOWS_PIN, PicowsMismatchError

PYPROJECT = Path(__file__).resolve().parent.parent / "pyproject.toml"
COMPILED = ocppfast.implementation == "cython"
requires_compiled = pytest.mark.skipif(not COMPILED, reason="compiled modules not in use")


def _exact_pins(requirements: list[str]) -> list[str]:
    return [m.group(1) for r in requirements if (m := re.fullmatch(r"picows\s*==\s*(\S+)", r))]


@pytest.mark.skipif(not PYPROJECT.exists(), reason="no pyproject.toml beside tests/")
def test_picows_pin_equals_pyproject_pins() -> None:
    meta = tomllib.loads(PYPROJECT.read_text())
    # The compiled engine is built against one picows .pxd layout: both pins must be exact.
    assert _exact_pins(meta["build-system"]["requires"]) == [PICOWS_PIN]
    assert _exact_pins(meta["project"]["dependencies"]) == [PICOWS_PIN]


def test_pinned_picows_is_installed() -> None:
    assert importlib.metadata.version("picows") == PICOWS_PIN
    _speedups._check_picows()


def test_other_picows_is_a_clear_import_error(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(picows, "__version__", "0.0.1")
    with pytest.raises(PicowsMismatchError) as info:
        _speedups._check_picows()
    message = str(info.value)
    assert f"picows=={PICOWS_PIN}" in message
    assert "0.0.1" in message
    assert "OCPPFAST_NO_EXTENSIONS=1" in message  # the way out, named
    assert isinstance(info.value, ImportError)


@requires_compiled
def test_load_refuses_compiled_engine_next_to_other_picows(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(picows, "__version__", "0.0.1")
    with pytest.raises(PicowsMismatchError, match=re.escape(PICOWS_PIN)):
        _speedups.load("_engine")


@requires_compiled
def test_load_gives_compiled_modules_with_pinned_picows() -> None:
    for name in ("_wire", "_engine"):
        module, compiled = _speedups.load(name)
        assert compiled
        assert module.__name__ == f"ocppfast.{name}_c"
        assert Path(module.__file__ or "").suffix == ".so"


def test_implementation_reports_what_is_loaded() -> None:
    built = all(importlib.util.find_spec(f"ocppfast.{n}_c") for n in ("_wire", "_engine"))
    expected = "cython" if built and _speedups.USE_EXTENSIONS else "python"
    assert ocppfast.implementation == expected


def test_no_extensions_forces_pure_python() -> None:
    # A fresh interpreter importing this same ocppfast (source tree or site-packages).
    env = dict(os.environ, OCPPFAST_NO_EXTENSIONS="1")
    env["PYTHONPATH"] = str(Path(ocppfast.__file__).resolve().parent.parent)
    out = subprocess.run(
        [sys.executable, "-c", "import ocppfast; print(ocppfast.implementation)"],
        env=env,
        capture_output=True,
        text=True,
        check=True,
    ).stdout.split()
    assert out == ["python"]


def test_package_ships_sources_pxd_and_py_typed() -> None:
    shipped = {p.name for p in resources.files("ocppfast").iterdir()}
    assert "py.typed" in shipped
    for name in ("_wire", "_engine"):
        assert f"{name}.py" in shipped  # the pure module, also the compiled one's source
        # the augmenting declarations (named after the module or the extension), for cimport
        assert {f"{name}.pxd", f"{name}_c.pxd"} & shipped
