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
from collections.abc import Iterator
from importlib import resources
from pathlib import Path
from typing import Any

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


# --- metadata: SPDX license, Python classifiers (one list: wheels/wheels.py builds for it) ----

PYTHON_CLASSIFIER = re.compile(r"Programming Language :: Python :: (3\.\d+)")
THIS_PYTHON = f"{sys.version_info[0]}.{sys.version_info[1]}"


def _python_classifiers(classifiers: list[str]) -> list[str]:
    found = [m.group(1) for c in classifiers if (m := PYTHON_CLASSIFIER.fullmatch(c))]
    return sorted(found, key=lambda v: int(v.split(".")[1]))


@pytest.mark.skipif(not PYPROJECT.exists(), reason="no pyproject.toml beside tests/")
def test_license_is_an_spdx_expression_and_setuptools_can_read_it() -> None:
    from packaging.requirements import Requirement

    meta = tomllib.loads(PYPROJECT.read_text())
    assert meta["project"]["license"] == "MIT"  # PEP 639; the TOML table form is deprecated
    assert not [c for c in meta["project"]["classifiers"] if c.startswith("License ::")]
    (setuptools,) = [
        Requirement(r) for r in meta["build-system"]["requires"] if r.startswith("setuptools")
    ]
    # setuptools reads a string license from 77.0 on; an older one rejects this pyproject.toml.
    assert not setuptools.specifier.contains("76.99") and setuptools.specifier.contains("77.0")


@pytest.mark.skipif(not PYPROJECT.exists(), reason="no pyproject.toml beside tests/")
def test_python_classifiers_run_from_requires_python_and_include_this_one() -> None:
    meta = tomllib.loads(PYPROJECT.read_text())["project"]
    versions = _python_classifiers(meta["classifiers"])
    lowest = re.fullmatch(r">=\s*(3\.\d+)", meta["requires-python"])
    assert lowest is not None and versions[0] == lowest.group(1)
    minors = [int(v.split(".")[1]) for v in versions]
    assert minors == list(range(minors[0], minors[0] + len(minors)))  # no gap
    for generic in ("Python :: 3", "Python :: 3 :: Only", "Python :: Implementation :: CPython"):
        assert f"Programming Language :: {generic}" in meta["classifiers"]
    # Every run of this suite (the source tree's, each installed wheel's) is on a promised Python.
    assert THIS_PYTHON in versions


def test_installed_metadata_says_spdx_license_and_this_python() -> None:
    # From the installed wheel / sdist (wheels/wheels.py check) or the editable install (after
    # pyproject.toml changes, `make` reinstalls it; a stale one fails here).
    meta = importlib.metadata.metadata("ocppfast")
    assert meta.get("License-Expression") == "MIT"
    assert "License" not in meta  # the legacy field, deprecated next to License-Expression
    assert f"Programming Language :: Python :: {THIS_PYTHON}" in meta.get_all("Classifier", [])
    if PYPROJECT.exists():
        project = tomllib.loads(PYPROJECT.read_text())["project"]
        assert sorted(meta.get_all("Classifier", [])) == sorted(project["classifiers"])


# --- wheels/wheels.py: which CPythons it builds for, and what it says when one is missing ------

WHEELS_SCRIPT = PYPROJECT.parent / "wheels" / "wheels.py"
needs_wheels_script = pytest.mark.skipif(
    not WHEELS_SCRIPT.exists(), reason="wheels/wheels.py is in the source tree only"
)


@pytest.fixture
def wheels_script() -> Iterator[Any]:
    name = "ocppfast_wheels_script"
    spec = importlib.util.spec_from_file_location(name, WHEELS_SCRIPT)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module  # dataclasses resolve the module by name
    try:
        spec.loader.exec_module(module)
        yield module
    finally:
        del sys.modules[name]


def _fake_pyenv(root: Path, versions: list[str]) -> None:
    """A pyenv layout whose versions/X.Y.99/bin/pythonX.Y is this very interpreter."""
    real = Path(sys.base_prefix) / "bin" / f"python{THIS_PYTHON}"
    for version in versions:
        bindir = root / "versions" / f"{version}.99" / "bin"
        bindir.mkdir(parents=True)
        (bindir / f"python{version}").symlink_to(real)


@pytest.fixture
def no_pythons(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """No pyenv and nothing on PATH: only what the test puts under the returned PYENV_ROOT."""
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    monkeypatch.setenv("PYENV_ROOT", str(tmp_path / "pyenv"))
    monkeypatch.setenv("PATH", str(tmp_path / "empty-bin"))
    return tmp_path / "pyenv"


@needs_wheels_script
def test_wheels_script_builds_for_the_classifier_pythons(wheels_script: Any) -> None:
    meta = tomllib.loads(PYPROJECT.read_text())["project"]
    assert wheels_script.supported_pythons() == _python_classifiers(meta["classifiers"])


@needs_wheels_script
def test_wheels_script_finds_this_python_and_no_imaginary_one(wheels_script: Any) -> None:
    target = wheels_script.find_python(THIS_PYTHON)
    assert target is not None
    assert target.tag == "cp" + THIS_PYTHON.replace(".", "")
    out = subprocess.run(
        [str(target.python), "-c", "import sys; print(sys.version_info[:2])"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    assert out.strip() == str(sys.version_info[:2])
    assert wheels_script.find_python("3.99") is None


@needs_wheels_script
def test_wheels_script_probes_each_interpreter_it_finds(
    wheels_script: Any, no_pythons: Path
) -> None:
    # pyenv says 3.99 is there, but what runs is another version: not taken for 3.99.
    real = Path(sys.base_prefix) / "bin" / f"python{THIS_PYTHON}"
    bindir = no_pythons / "versions" / "3.99.0" / "bin"
    bindir.mkdir(parents=True)
    (bindir / "python3.99").symlink_to(real)
    assert wheels_script.find_python("3.99") is None
    _fake_pyenv(no_pythons, [THIS_PYTHON])
    found = wheels_script.find_python(THIS_PYTHON)
    assert found is not None and found.python.parent.parent.name == f"{THIS_PYTHON}.99"


@needs_wheels_script
def test_missing_python_is_named_and_skipped_outside_ci(
    wheels_script: Any, no_pythons: Path, monkeypatch: pytest.MonkeyPatch, capsys: Any
) -> None:
    monkeypatch.delenv("CI", raising=False)
    _fake_pyenv(no_pythons, [THIS_PYTHON])
    others = [v for v in wheels_script.supported_pythons() if v != THIS_PYTHON]
    targets = wheels_script.select_pythons(wheels_script.supported_pythons())
    assert [t.version for t in targets] == [THIS_PYTHON]
    assert wheels_script._skipped == others
    err = capsys.readouterr().err
    assert "WARNING" in err and f"CPython {', '.join(others)} not found" in err
    assert f"pyenv install {' '.join(others)}" in err


@needs_wheels_script
def test_missing_python_fails_under_ci(
    wheels_script: Any, no_pythons: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("CI", "true")
    _fake_pyenv(no_pythons, [THIS_PYTHON])
    others = [v for v in wheels_script.supported_pythons() if v != THIS_PYTHON]
    with pytest.raises(wheels_script.CheckFailed, match=re.escape(f"CPython {', '.join(others)}")):
        wheels_script.select_pythons(wheels_script.supported_pythons())


@needs_wheels_script
def test_wheels_script_refuses_a_python_the_classifiers_do_not_promise(
    wheels_script: Any,
) -> None:
    with pytest.raises(wheels_script.CheckFailed, match="3.99.*classifiers"):
        wheels_script.select_pythons(["3.99"])


@needs_wheels_script
def test_build_log_deprecation_warnings_are_found(wheels_script: Any, tmp_path: Path) -> None:
    clean, warned = tmp_path / "clean.log", tmp_path / "warned.log"
    clean.write_text("running build_ext\ncopying ocppfast/_wire.py\n")
    warned.write_text(
        "running egg_info\n"
        "SetuptoolsDeprecationWarning: `project.license` as a TOML table is deprecated\n"
    )
    assert wheels_script.deprecations([clean]) == []
    assert wheels_script.deprecations([clean, warned]) == [
        "warned.log: SetuptoolsDeprecationWarning: `project.license` as a TOML table is deprecated"
    ]
