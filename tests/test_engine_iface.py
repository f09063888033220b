"""The engine's narrow, declared interface (issue 14, "While there").

- No module of ``ocppfast/`` other than ``_engine.py`` / ``engine.py`` assigns (or mutates in
  place) an underscore attribute of another object: the transport side (server, client,
  listener, observers) goes through the engine's methods. An AST scan, with the few
  assignments to objects that are not engines declared below with the reason; the scanner is
  shown to catch what ``client.py`` and ``server.py`` used to do.
- The attributes ``_engine_c.pxd`` exposes to Python (``public`` and ``readonly``) are exactly
  the ones the engine module's docstring documents; compiled, the readonly ones cannot be set
  and the private ones cannot be seen from Python.
- The transport-side methods do what the docstring says: ``attach`` with the listener's
  pieces, ``use_version``, ``set_handler``/``add_after``, the events of ``track_reconnects``.
"""

from __future__ import annotations

import ast
import asyncio
import re
from pathlib import Path
from typing import Any

import pytest

import ocppfast
from ocppfast import _engine, engine, versions
from ocppfast.charge_point import PUBLIC_API, ChargePoint

from .conftest import CollectingTransport

ROOT = Path(__file__).resolve().parent.parent
PKG = ROOT / "ocppfast"
PXD = PKG / "_engine_c.pxd"
COMPILED = ocppfast.implementation == "cython"

# The engine module itself, and the selector that re-exports it.
OWNERS = {"_engine.py", "engine.py"}
# Assignments to underscore attributes of objects that are not engines (module, target).
NOT_ENGINES = {
    # picows' protocol object: the handshake limiter and peer address ride on it
    ("transport.py", "proto._ocpp_address"),
    ("transport.py", "proto._ocpp_limiter"),
    # the cluster's own RESP connection objects (ocppfast/cluster/_resp.py's class)
    ("cluster/_resp.py", "conn._loop"),
    ("cluster/_cluster.py", "conn._on_lost"),
    # the re module's compile cache, patched while the generated patterns are compiled
    ("validation.py", "re._compile"),
}
# The mobilityhouse-compatible layer has its own ChargePoint (not an Engine); shown below.
COMPAT = ("compat/", "_compat_fast.py")

# Methods that change an object in place: ``x._handlers.update(...)`` and
# ``x._closed_event.set()`` are writes too.
MUTATORS = {
    "add",
    "append",
    "clear",
    "set",
    "discard",
    "extend",
    "insert",
    "pop",
    "popitem",
    "remove",
    "setdefault",
    "update",
}


def _private_chain(node: ast.expr) -> str | None:
    """``a.b._c.d`` -> its source when an attribute of the chain is underscore-named and
    belongs to another object: anything after the root, except the first attribute of
    ``self`` / ``cls`` (an object's own state: ``self._x`` yes, ``self.cp._x`` no); else None."""
    parts = []
    cur = node
    while isinstance(cur, (ast.Attribute, ast.Subscript)):
        if isinstance(cur, ast.Attribute):
            parts.append(cur.attr)
        cur = cur.value
    if not isinstance(cur, ast.Name):
        return None
    parts.reverse()  # root first
    if cur.id in ("self", "cls"):
        parts = parts[1:]
    if not any(p.startswith("_") and not p.startswith("__") for p in parts):
        return None
    return ast.unparse(node)


def foreign_writes(source: str) -> list[str]:
    """Targets in ``source`` that write an underscore attribute of another object: assigned,
    augmented, deleted, item-assigned, or changed by a mutating method call."""
    found: list[str] = []
    for node in ast.walk(ast.parse(source)):
        targets: list[ast.expr] = []
        if isinstance(node, ast.Assign):
            targets = node.targets
        elif isinstance(node, (ast.AugAssign, ast.AnnAssign)):
            targets = [node.target]
        elif isinstance(node, ast.Delete):
            targets = node.targets
        elif (
            isinstance(node, ast.Call)
            and isinstance(node.func, ast.Attribute)
            and node.func.attr in MUTATORS
        ):
            targets = [node.func.value]
        for target in targets:
            for leaf in ast.walk(target) if isinstance(target, ast.Tuple) else [target]:
                if isinstance(leaf, (ast.Attribute, ast.Subscript)):
                    chain = _private_chain(leaf)
                    if chain is not None:
                        found.append(chain)
    return found


def _modules() -> list[tuple[str, Path]]:
    out = []
    for path in sorted(PKG.rglob("*.py")):
        rel = path.relative_to(PKG).as_posix()
        if rel in OWNERS or rel.startswith(COMPAT):
            continue
        out.append((rel, path))
    return out


def test_scanner_catches_what_the_transport_side_used_to_do() -> None:
    # Lines of client.py, server.py and transport.py before the interface existed.
    old = """
cp._handlers.update(self.handlers)
cp._versions = self.offered
cp._closed_event = asyncio.Event()
cp._connected_event.set()
cp._flow.hook_tasks = self._hook_tasks
cp._flow.other_frame = self._other_frame
self.cp._closed_event.set()
"""
    assert sorted(foreign_writes(old)) == sorted([
        "cp._handlers",
        "cp._versions",
        "cp._closed_event",
        "cp._connected_event",
        "cp._flow.hook_tasks",
        "cp._flow.other_frame",
        "self.cp._closed_event",
    ])  # fmt: skip
    # An object's own state, reads, and dunder attributes are not writes of another's.
    assert foreign_writes("self._x = 1\nself._d.update(a)\ny = cp._x\nf.__dict__['k'] = 1") == []


def test_no_module_writes_engine_or_charge_point_privates() -> None:
    offending = []
    for rel, path in _modules():
        for target in foreign_writes(path.read_text()):
            if (rel, target) not in NOT_ENGINES:
                offending.append(f"{rel}: {target}")
    assert offending == []


def test_declared_exceptions_still_exist() -> None:
    # An exception that no longer occurs is dropped from NOT_ENGINES (no stale allowances).
    seen = {(rel, t) for rel, path in _modules() for t in foreign_writes(path.read_text())}
    assert NOT_ENGINES <= seen


def test_compat_layer_does_not_use_our_engine_objects() -> None:
    # Why compat/ is not scanned: it imports no Engine or ChargePoint of ours.
    for path in sorted(PKG.rglob("*.py")):
        rel = path.relative_to(PKG).as_posix()
        if not rel.startswith(COMPAT):
            continue
        for node in ast.walk(ast.parse(path.read_text())):
            if not isinstance(node, ast.ImportFrom):
                continue
            module = node.module or ""
            if node.level:  # relative: resolved from the module's package
                package = ["ocppfast", *rel.split("/")[:-1]]
                base = package[: len(package) - node.level + 1]
                module = ".".join([*base, module] if module else base)
            if module in ("ocppfast.engine", "ocppfast._engine", "ocppfast.charge_point"):
                names = {a.name for a in node.names}
                assert not names & {"Engine", "ChargePoint", "FrameListener"}, rel


# --- the attributes the .pxd exposes == the documented ones --------------------------------


def _pxd_engine_attributes() -> dict[str, set[str]]:
    text = PXD.read_text()
    block = text[text.index("cdef class Engine:") :]
    block = block[: block.index("\n\n\n")]
    out: dict[str, set[str]] = {"public": set(), "readonly": set(), "private": set()}
    for line in block.splitlines():
        m = re.match(r"    cdef (public |readonly )?([\w. ]+) (\w+)$", line)
        if m:
            out[(m.group(1) or "private ").strip()].add(m.group(3))
    return out


def _documented() -> dict[str, set[str]]:
    doc = _engine.__doc__ or ""
    out = {}
    for kind in ("public", "readonly"):
        m = re.search(rf"^Attributes \({kind}\): (.*?)\.$", doc, re.MULTILINE | re.DOTALL)
        assert m, f"the engine docstring lists its {kind} attributes"
        out[kind] = set(re.findall(r"``(\w+)``", m.group(1)))
    return out


def test_pxd_exposes_exactly_the_documented_attributes() -> None:
    pxd = _pxd_engine_attributes()
    doc = _documented()
    assert pxd["public"] == doc["public"]
    assert pxd["readonly"] == doc["readonly"]
    # Nothing exposed is underscore-named, nothing private is not.
    assert not any(n.startswith("_") for n in pxd["public"] | pxd["readonly"])
    assert all(n.startswith("_") for n in pxd["private"])
    # The user API's attributes are among them (charge_point.PUBLIC_API is unchanged).
    assert {"accepted", "actions", "identity", "subprotocol", "observer"} <= PUBLIC_API
    assert {"accepted", "observer"} <= pxd["public"]


# --- the C struct: the fields each frame touches come first ----------------------------------

# The engine's methods a compact CALL goes through, from picows' callback to the answer's send.
FRAME_PATH = ("_feed", "_receive_frame", "_fast_scan", "_answer")
# Read on that path only when a read holds more than one frame (then per read, not per frame).
FRAME_PATH_RARE = {"_flow"}


def _pxd_engine_sections() -> list[list[str]]:
    """The Engine block's fields in declaration order, split at its ``# --`` comments."""
    text = PXD.read_text()
    block = text[text.index("cdef class Engine:") :]
    block = block[: block.index("\n\n\n")]
    sections: list[list[str]] = [[]]
    for line in block.splitlines():
        if line.startswith("    # --"):
            sections.append([])
        m = re.match(r"    cdef (?:public |readonly )?[\w. ]+ (\w+)$", line)
        if m:
            sections[-1].append(m.group(1))
    return [s for s in sections if s]


def _fields_read_on(methods: tuple[str, ...], fields: set[str]) -> set[str]:
    """The engine fields ``self.<name>`` that these methods of ``Engine`` use, outside their
    ``except`` clauses (the error paths)."""
    tree = ast.parse((PKG / "_engine.py").read_text())
    cls = next(n for n in tree.body if isinstance(n, ast.ClassDef) and n.name == "Engine")
    found: set[str] = set()

    def visit(node: ast.AST) -> None:
        if isinstance(node, ast.ExceptHandler):
            return
        if (
            isinstance(node, ast.Attribute)
            and isinstance(node.value, ast.Name)
            and node.value.id == "self"
            and node.attr in fields
        ):
            found.add(node.attr)
        for child in ast.iter_child_nodes(node):
            visit(child)

    for fn in cls.body:
        if isinstance(fn, ast.FunctionDef) and fn.name in methods:
            visit(fn)
    return found


def test_the_fields_each_frame_touches_are_declared_first() -> None:
    """Cython lays a cdef class's C struct out in the .pxd's order: the fields the per-frame
    path uses sit together right after the object's header, so with thousands of connections
    a frame touches 2-3 of the engine's cache lines, not all of them (docs/performance.md,
    "Per-connection state"). A field the path starts to use, declared among the others,
    fails here."""
    sections = _pxd_engine_sections()
    assert len(sections) == 2, "the Engine block: '# -- per frame', then the rest"
    hot, rest = sections
    used = _fields_read_on(FRAME_PATH, set(hot) | set(rest))
    assert {"rx_count", "_out", "_ws", "_plan", "_unanswered", "accepted"} <= used
    assert used - FRAME_PATH_RARE <= set(hot), sorted(used - FRAME_PATH_RARE - set(hot))
    # And nothing in the first section that the path does not use: it would push the others
    # onto the next cache line.
    assert set(hot) <= used, sorted(set(hot) - used)


def test_documented_methods_exist() -> None:
    doc = _engine.__doc__ or ""
    m = re.search(r"^Methods \(transport side\): (.*?)\.$", doc, re.MULTILINE | re.DOTALL)
    assert m
    names = set(re.findall(r"``(\w+)\(", m.group(1)))
    assert {"attach", "feed", "connection_lost", "use_version", "set_handler"} <= names
    for name in names - {"handlers_changed"}:
        assert callable(getattr(engine.Engine, name)), name
    assert callable(engine.handlers_changed)


def _engine_obj() -> tuple[engine.Engine, asyncio.AbstractEventLoop]:
    loop = asyncio.new_event_loop()
    return engine.Engine(loop, versions.OCPP16, versions.actions(versions.OCPP16)), loop


def test_documented_attributes_are_readable_in_both_builds() -> None:
    eng, loop = _engine_obj()
    try:
        for name in _documented()["public"] | _documented()["readonly"]:
            getattr(eng, name)
        eng.call_timeout = 3.0  # a public one can be set
        assert eng.call_timeout == 3.0
    finally:
        loop.close()


@pytest.mark.skipif(not COMPILED, reason="readonly/private are enforced by the compiled build")
def test_readonly_attributes_cannot_be_set_compiled() -> None:
    eng, loop = _engine_obj()
    try:
        for name in sorted(_documented()["readonly"]):
            value = getattr(eng, name)
            with pytest.raises(AttributeError):
                setattr(eng, name, value)
        for name in sorted(_pxd_engine_attributes()["private"] - {"__weakref__"}):
            assert not hasattr(eng, name), name
            with pytest.raises(AttributeError):
                setattr(eng, name, None)
    finally:
        loop.close()


# --- the transport-side methods ------------------------------------------------------------


class _Listener:
    def __init__(self) -> None:
        self.frames: list[Any] = []

    def other(self, msg_type: int, fin: bool, data: bytes) -> None:
        self.frames.append((msg_type, fin, data))


def test_attach_takes_the_listener_pieces() -> None:
    eng, loop = _engine_obj()
    try:
        transport = CollectingTransport()
        listener = _Listener()
        cert = {"subject": ((("commonName", "CP-1"),),)}
        eng.attach(transport, listener.other, cert)
        assert eng.transport is transport
        assert eng.peer_certificate == cert
        eng.attach(transport)  # a new connection: nothing carried over
        assert eng.peer_certificate is None
    finally:
        loop.close()


def test_events_follow_the_connection_life() -> None:
    async def main() -> None:
        cp = ChargePoint(asyncio.get_running_loop(), versions.OCPP16, {})
        assert cp.connected_event() is None  # not kept across reconnects
        closed = cp.closed_event()  # made on demand, once
        assert cp.closed_event() is closed and not closed.is_set()
        cp.mark_closed()
        assert closed.is_set()

        station = ChargePoint(asyncio.get_running_loop(), versions.OCPP16, {})
        station.track_reconnects([versions.OCPP16, versions.OCPP201])
        assert station.versions == (versions.OCPP16, versions.OCPP201)
        connected = station.connected_event()
        assert connected is not None and not connected.is_set()
        station.mark_connected()
        assert connected.is_set() and not station.closed_event().is_set()
        station.mark_disconnected()
        assert not connected.is_set()
        station.mark_closed()
        assert station.closed_event().is_set()
        station.mark_connected()  # reconnected: waiters of wait_closed() wait again
        assert not station.closed_event().is_set()

    asyncio.run(main())


def test_use_version_switches_subprotocol_and_registry() -> None:
    eng, loop = _engine_obj()
    try:
        actions = versions.actions(versions.OCPP201)
        eng.use_version(versions.OCPP201, actions)
        assert eng.subprotocol == versions.OCPP201 and eng.actions is actions
    finally:
        loop.close()


def test_hook_tasks_shared_through_the_constructor() -> None:
    loop = asyncio.new_event_loop()
    try:
        shared: set[Any] = set()
        eng = engine.Engine(loop, versions.OCPP16, {}, hook_tasks=shared)
        assert eng.hook_tasks is shared
        assert engine.Engine(loop, versions.OCPP16, {}).hook_tasks is None
    finally:
        loop.close()
