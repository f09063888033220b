"""Every program in examples/ runs to completion on loopback and prints what it should; the
README's Python snippets are code of those programs; mypy --strict accepts the examples.

Each example runs in a subprocess with the working tree first on ``PYTHONPATH``, as a user runs
``python examples/X.py`` from a clone.
"""

from __future__ import annotations

import ast
import asyncio
import contextlib
import os
import re
import subprocess
import sys
import tempfile
import textwrap
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
EXAMPLES = ROOT / "examples"
LIMIT = 60

# The wheel check (wheels/wheels.py) runs a copy of tests/ against the installed package, away
# from the source tree: examples/, docs/ and README.md are not there to test.
pytestmark = pytest.mark.skipif(
    not (EXAMPLES / "README.md").exists(), reason="needs the source tree's examples/ and docs/"
)

#: every example and the test that runs it (a new example without a test fails
#: test_every_example_is_run)
RUN_BY = {
    "central_system_v16.py": "test_central_system_and_station",
    "central_system_v201.py": "test_central_system_and_station",
    "central_system_v21.py": "test_central_system_and_station",
    "charging_station_v16.py": "test_central_system_and_station",
    "charging_station_v201.py": "test_central_system_and_station",
    "charging_station_v21.py": "test_central_system_and_station",
    "change_availability_on_connect.py": "test_change_availability_on_connect",
    "fan_out.py": "test_fan_out",
    "auth_tls.py": "test_auth_tls",
    "certs.py": "test_certs",
}


def env() -> dict[str, str]:
    return {**os.environ, "PYTHONPATH": str(ROOT), "PYTHONUNBUFFERED": "1"}


async def start(name: str, *args: str) -> asyncio.subprocess.Process:
    return await asyncio.create_subprocess_exec(
        sys.executable,
        str(EXAMPLES / name),
        *args,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env=env(),
    )


async def run(name: str, *args: str) -> str:
    """Run an example to completion; its stdout (it must exit 0 with nothing on stderr)."""
    proc = await start(name, *args)
    out, err = await asyncio.wait_for(proc.communicate(), LIMIT)
    assert proc.returncode == 0, (out + err).decode()
    assert not err, err.decode()
    return out.decode()


def test_every_example_is_run() -> None:
    on_disk = sorted(p.name for p in EXAMPLES.glob("*.py"))
    assert on_disk == sorted(RUN_BY)
    tests = {name for name in globals() if name.startswith("test_")}
    assert set(RUN_BY.values()) <= tests


STATION_SAYS = {
    "v16": ["BootNotification: Accepted, heartbeat every 300 s", "Heartbeat: the central system"],
    "v201": ["BootNotification: Accepted, heartbeat every 300 s", "Heartbeat: the central system"],
    "v21": [
        "BootNotification: Accepted",
        "OpenPeriodicEventStream: Accepted",
        "sent 2 readings without waiting for an answer",
    ],
}
CENTRAL_SYSTEM_SAYS = {
    "v16": ["CP-16: boot, Example EX-16", "CP-16: connector 1 Available"],
    "v201": ["CP-201: boot (PowerUp), Example EX-201", "CP-201: EVSE 1 connector 1 Available"],
    "v21": [
        "CP-21: boot (PowerUp), EX-21",
        "CP-21: opens stream 1",
        "CP-21: stream 1 data ['230.1'] (1 pending)",
        "CP-21: stream 1 data ['229.8'] (0 pending)",
        "CP-21: closes stream 1",
    ],
}


@pytest.mark.parametrize("version", ["v16", "v201", "v21"])
async def test_central_system_and_station(version: str) -> None:
    cs = await start(f"central_system_{version}.py", "--port", "0", "--once")
    try:
        assert cs.stdout is not None
        banner = (await asyncio.wait_for(cs.stdout.readline(), LIMIT)).decode()
        match = re.fullmatch(r"listening on ws://127\.0\.0\.1:(\d+)/<identity>\n", banner)
        assert match, banner
        said = await run(f"charging_station_{version}.py", "--url", f"ws://127.0.0.1:{match[1]}")
        for line in STATION_SAYS[version]:
            assert line in said, said
        # --once: the central system stops by itself when the station has gone
        out, err = await asyncio.wait_for(cs.communicate(), LIMIT)
    finally:
        if cs.returncode is None:
            cs.kill()
            await cs.wait()
    assert cs.returncode == 0 and not err, err.decode()
    lines = out.decode().splitlines()
    assert lines == [*CENTRAL_SYSTEM_SAYS[version], "central system stopped"]


async def test_central_system_duration() -> None:
    out = await run("central_system_v201.py", "--port", "0", "--duration", "0.2")
    assert out.splitlines()[-1] == "central system stopped"


async def test_change_availability_on_connect() -> None:
    out = await run("change_availability_on_connect.py")
    assert out.splitlines() == [
        "CP-16 (ocpp1.6): ChangeAvailability Accepted",
        "CP-201 (ocpp2.0.1): ChangeAvailability Accepted",
        "CP-201-NO-HANDLER (ocpp2.0.1): ChangeAvailability refused with NotSupported",
    ]


async def test_fan_out() -> None:
    out = await run("fan_out.py", "--stations", "30")
    first, *subset = out.splitlines()
    assert re.fullmatch(
        r"TriggerMessage to 30 stations in [\d.]+ ms: "
        r"\{'NotSupportedError': 3, 'Accepted': 27\}|"
        r"TriggerMessage to 30 stations in [\d.]+ ms: "
        r"\{'Accepted': 27, 'NotSupportedError': 3\}",
        first,
    ), first
    assert subset == [
        "CP-001: Accepted",
        "CP-002: Accepted",
        "CP-003: Accepted",
        "CP-999: NotConnectedError(\"'CP-999' is not connected\")",
    ]


@pytest.mark.parametrize("version", ["ocpp1.6", "ocpp2.0.1"])
async def test_auth_tls(version: str) -> None:
    out = await run("auth_tls.py", "--version", version)
    lines = out.splitlines()
    assert [ln.split(":")[0] for ln in lines] == [
        "profile 1, right password",
        "profile 1, wrong password",
        "profile 2, right password",
        "profile 2, no password",
        "profile 3, client certificate",
        "profile 3, no client certificate",
    ]
    assert "connected over ws, Heartbeat answered" in lines[0]
    assert "connected over wss, Heartbeat answered" in lines[2]
    assert "connected over wss, Heartbeat answered" in lines[4]
    for refused in (lines[1], lines[3], lines[5]):
        assert ": refused (" in refused, refused


async def test_certs(tmp_path: Path) -> None:
    out = await run("certs.py", str(tmp_path), "CP-7")
    names = sorted(Path(p).name for p in out.split())
    assert names == ["ca.pem", "client.key", "client.pem", "server.key", "server.pem"]
    from cryptography import x509

    client = x509.load_pem_x509_certificate((tmp_path / "client.pem").read_bytes())
    assert client.subject.rfc4514_string() == "CN=CP-7"


# --- the README's code is the examples' code ----------------------------------------------


def readme_use_it_blocks() -> list[str]:
    """The ```python blocks of README.md's "Use it" section (other sections' blocks are checked
    by test_docs_python_blocks_compile_and_name_real_api)."""
    text = (ROOT / "README.md").read_text()
    section = text.split("\n## Use it\n", 1)[1].split("\n## ", 1)[0]
    return re.findall(r"```python\n(.*?)```", section, flags=re.DOTALL)


def contains(source: str, block: str) -> bool:
    """``block``'s lines appear in ``source`` consecutively, each with the same added
    indentation (a README snippet may be dedented code from inside a function)."""
    lines = source.splitlines()
    wanted = block.splitlines()
    for start in range(len(lines) - len(wanted) + 1):
        first = lines[start]
        if not first.endswith(wanted[0]):
            continue
        indent = first[: len(first) - len(wanted[0])]
        if indent.strip():
            continue
        if all(lines[start + k] == (indent + w if w else "") for k, w in enumerate(wanted)):
            return True
    return False


def test_contains() -> None:
    source = "def f():\n    a = 1\n\n    b = 2\n"
    assert contains(source, "a = 1\n\nb = 2\n")
    assert contains(source, "def f():\n    a = 1\n")
    assert not contains(source, "a = 1\nb = 2\n")
    assert not contains(source, "f():\n    a = 1\n")  # not a whole line


def test_readme_python_blocks_are_code_of_examples() -> None:
    """Each ```python block of README.md's "Use it" is part of a program in examples/ (which the
    tests above run), line for line, so a README snippet cannot drift from code that works."""
    blocks = readme_use_it_blocks()
    assert len(blocks) >= 2  # at least a central system and a charging station
    sources = {p.name: p.read_text() for p in EXAMPLES.glob("*.py")}
    for block in blocks:
        homes = [name for name, source in sources.items() if contains(source, block)]
        assert homes, f"README block not found in examples/:\n{block}"


# --- typing -----------------------------------------------------------------------------


def mypy(*args: str) -> subprocess.CompletedProcess[str]:
    pytest.importorskip("mypy", reason="mypy is a dev tool (the wheel checks' venvs lack it)")
    cache = Path(tempfile.gettempdir()) / "ocppfast-mypy-examples"  # not shared with other runs
    return subprocess.run(
        [
            sys.executable,
            "-m",
            "mypy",
            "--strict",
            "--no-error-summary",
            "--cache-dir",
            str(cache),
            *args,
        ],
        check=False,
        capture_output=True,
        text=True,
        cwd=ROOT,
        env=env(),
        timeout=300,
    )


def test_examples_pass_mypy_strict() -> None:
    """The typed API (issue 13): decorated handlers keep their types, ``call(request)`` returns
    the request's response type; tests/test_typed_api.py checks the cases one by one."""
    result = mypy("examples/")
    assert result.returncode == 0, result.stdout + result.stderr


# --- the guide in docs/ ---------------------------------------------------------------------

DOCS = ROOT / "docs"


def anchors(markdown: str) -> set[str]:
    """GitHub's anchors of a page's headings."""
    found = set()
    for heading in re.findall(r"^#+ (.+)$", markdown, flags=re.MULTILINE):
        slug = re.sub(r"[^\w\- ]", "", heading.strip().lower()).replace(" ", "-")
        found.add(slug)
    return found


def links(path: Path) -> list[tuple[str, str]]:
    """(target file, anchor) of each relative Markdown link in ``path``."""
    out = []
    for target in re.findall(r"\]\(([^)\s]+)\)", path.read_text()):
        if re.match(r"[a-z]+://", target):
            continue
        file, _, anchor = target.partition("#")
        out.append((file, anchor))
    return out


def test_docs_links_resolve() -> None:
    pages = [*sorted(DOCS.glob("*.md")), EXAMPLES / "README.md", ROOT / "README.md"]
    assert {p.name for p in DOCS.glob("*.md")} >= {
        "README.md",
        "getting-started.md",
        "handlers-and-calls.md",
        "versions.md",
        "security.md",
        "errors.md",
        "performance.md",
        "cli.md",
        "compat.md",  # written with issue 10
        "cluster.md",  # written with issue 11
    }
    for page in pages:
        for file, anchor in links(page):
            target = (page.parent / file).resolve() if file else page
            assert target.exists(), f"{page.name}: broken link {file}"
            if anchor:
                assert anchor in anchors(target.read_text()), f"{page.name}: no #{anchor}"


def _dotted(node: ast.expr) -> str | None:
    parts = []
    while isinstance(node, ast.Attribute):
        parts.append(node.attr)
        node = node.value
    if isinstance(node, ast.Name):
        return ".".join([node.id, *reversed(parts)])
    return None


def test_docs_python_blocks_compile_and_name_real_api() -> None:
    """The guide's snippets (and the README's outside "Use it") are abridged, so they are not
    run; but each must be valid Python, and every ``ocppfast.X`` / ``v16.X`` / ``v201.X`` /
    ``v21.X`` it names must exist."""
    import importlib

    roots = {
        "ocppfast": importlib.import_module("ocppfast"),
        "v16": importlib.import_module("ocppfast.v16"),
        "v201": importlib.import_module("ocppfast.v201"),
        "v21": importlib.import_module("ocppfast.v21"),
    }
    checked = 0
    for page in [*sorted(DOCS.glob("*.md")), ROOT / "README.md"]:
        for block in re.findall(r"```python\n(.*?)```", page.read_text(), flags=re.DOTALL):
            flags = ast.PyCF_ONLY_AST | ast.PyCF_ALLOW_TOP_LEVEL_AWAIT
            tree = compile(textwrap.dedent(block), page.name, "exec", flags=flags)
            for node in ast.walk(tree):
                if not isinstance(node, ast.Attribute) or isinstance(node.ctx, ast.Store):
                    continue
                name = _dotted(node)
                if name is None or name.split(".")[0] not in roots:
                    continue
                obj: object = roots[name.split(".")[0]]
                for part in name.split(".")[1:]:
                    if isinstance(obj, type(ast)) and not hasattr(obj, part):
                        with contextlib.suppress(ImportError):  # a submodule not imported yet
                            importlib.import_module(f"{obj.__name__}.{part}")
                    assert hasattr(obj, part), f"{page.name}: {name} does not exist"
                    obj = getattr(obj, part)
                checked += 1
    assert checked > 20
