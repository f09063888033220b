"""The logger check of ``ocppfast._compat_fast.Sink`` (``info_off``): the flat path skips
``logger.info`` only when it would log nothing, and notices every change a handler makes between
the receive and the send line of its own CALL (compiled, the check's answer is kept while the
version tags of the logger's dicts and of ``logging.Logger`` stay the same).

Each frame below is a DataTransfer whose ``vendorId`` names a change the handler makes to
logging (a level, ``logging.disable``, ``info`` patched on the instance or on
``logging.Logger``, the logger's ``__class__``, another logger object); the class is served over
real loopback connections on the flat path and on the general path (a dispatch step overridden,
``logger.info`` always called), and log lines, patched ``info`` calls, wire frames and handler
events must be the same. Run in both modes (plain and ``OCPPFAST_NO_EXTENSIONS=1``).
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from typing import Any

import pytest

from ocppfast.compat.routing import on
from ocppfast.compat.v16 import ChargePoint as ChargePoint16
from ocppfast.compat.v16 import call_result as result16

from .test_compat_fastpath import Recorder, assert_same, both

_ORIGINAL_INFO = logging.Logger.info


class Loud(logging.Logger):
    """A Logger subclass whose ``info`` logs whatever the level (and says so)."""

    rec: Recorder | None = None

    def info(self, msg: object, *args: Any, **kwargs: Any) -> None:
        if Loud.rec is not None:
            Loud.rec.saw("loud-info", str(msg) % args)


def _patched_info(rec: Recorder) -> Any:
    def info(msg: object, *args: Any, **kwargs: Any) -> None:
        rec.saw("patched-info", str(msg) % args)

    return info


def _class_info(self: logging.Logger, msg: object, *args: Any, **kwargs: Any) -> None:
    if Loud.rec is not None:
        Loud.rec.saw("class-info", str(msg) % args)


class LogCP(ChargePoint16):
    rec: Recorder

    @on("Heartbeat")  # also answers the markers run() sends after each frame
    def fl_heartbeat(self) -> Any:
        return result16.Heartbeat(current_time="2026-01-01T00:00:00Z")

    @on("DataTransfer")
    def fl_data(self, vendor_id: str, **kw: Any) -> Any:
        self.rec.saw("data", vendor_id)
        Loud.rec = self.rec
        ocpp = logging.getLogger("ocpp")
        if vendor_id == "info":
            ocpp.setLevel(logging.INFO)
        elif vendor_id == "warning":
            ocpp.setLevel(logging.WARNING)
        elif vendor_id == "disable":
            logging.disable(logging.CRITICAL)
        elif vendor_id == "enable":
            logging.disable(logging.NOTSET)
        elif vendor_id == "patch":
            self.logger.info = _patched_info(self.rec)  # type: ignore[method-assign]
        elif vendor_id == "unpatch":
            del self.logger.info
        elif vendor_id == "class":
            self.logger.__class__ = Loud
        elif vendor_id == "unclass":
            self.logger.__class__ = logging.Logger
        elif vendor_id == "patch-class":
            logging.Logger.info = _class_info  # type: ignore[method-assign]
        elif vendor_id == "unpatch-class":
            logging.Logger.info = _ORIGINAL_INFO  # type: ignore[method-assign]
        elif vendor_id == "swap":
            self.logger = Loud("ocpp.loud")
        elif vendor_id == "back":
            self.logger = ocpp
        elif vendor_id == "quiet-child":
            # a child logger, quiet: only its own cache answers for it
            child = logging.getLogger("ocpp.child")
            child.setLevel(logging.WARNING)
            self.logger = child
        elif vendor_id == "loud-parent":
            # the child's level unset: its parent's level decides, through the child's cache
            logging.getLogger("ocpp.child").setLevel(logging.NOTSET)
            ocpp.setLevel(logging.DEBUG)
        return result16.DataTransfer(status="Accepted")


def _data(vendor: str, i: int) -> str:
    return f'[2,"d{i}-{vendor}","DataTransfer",{{"vendorId":"{vendor}"}}]'


@pytest.fixture(autouse=True)
def _restore_logging() -> Iterator[None]:
    child = logging.getLogger("ocpp.child")
    child_level = child.level
    ocpp = logging.getLogger("ocpp")
    yield
    logging.disable(logging.NOTSET)
    logging.Logger.info = _ORIGINAL_INFO  # type: ignore[method-assign]
    ocpp.__dict__.pop("info", None)
    ocpp.__class__ = logging.Logger
    child.setLevel(child_level)
    Loud.rec = None


def _infos(result: dict[str, Any]) -> list[str]:
    return [text for level, text in result["lines"] if level == "INFO"]


async def _check(steps: list[str], level: int) -> dict[str, Any]:
    frames = [_data(step, i) for i, step in enumerate(steps)]
    fast, slow = await both(LogCP, frames, level)
    assert_same(fast, slow)
    assert any(fast["inline"])  # the flat path ran (each path leaves logging as it found it)
    return fast


async def test_a_level_raised_and_lowered_inside_handlers() -> None:
    fast = await _check(["info", "warning", "warning", "info"], logging.WARNING)
    infos = _infos(fast)
    # the send line of the CALL whose handler raised the level: logged
    assert any(t.startswith('CP-1: send [3,"d0-info"') for t in infos)
    # d1 came in at INFO (its receive line logged), and lowered it before its answer
    assert any("receive message" in t and '"d1-warning"' in t for t in infos)
    assert not any(t.startswith('CP-1: send [3,"d1-warning"') for t in infos)
    assert not any('"d2-warning"' in t for t in infos)
    assert any(t.startswith('CP-1: send [3,"d3-info"') for t in infos)


async def test_logging_disable_inside_handlers() -> None:
    fast = await _check(["disable", "info", "enable", "info"], logging.DEBUG)
    infos = _infos(fast)
    assert any("receive message" in t and '"d0-disable"' in t for t in infos)
    assert not any(t.startswith('CP-1: send [3,"d0-disable"') for t in infos)
    assert not any('"d1-info"' in t for t in infos)  # a level change does not end disable()
    assert any(t.startswith('CP-1: send [3,"d2-enable"') for t in infos)
    assert any("receive message" in t and '"d3-info"' in t for t in infos)


def _texts(run: dict[str, Any], kind: str) -> list[str]:
    """The texts a handler-installed logging hook of ``kind`` recorded in ``run``."""
    return [text for k, *rest in run["events"] if k == kind for text in rest]


async def _toggled(steps: list[str], kind: str) -> None:
    """``steps[1]`` installs a hook of ``kind`` inside a handler and ``steps[3]`` (if any)
    removes it: the hook sees the answer to the very CALL that installed it and the next CALL's
    lines, and nothing after its removal."""
    seen = _texts(await _check(steps, logging.WARNING), kind)
    assert any(t.startswith(f'CP-1: send [3,"d1-{steps[1]}"') for t in seen)
    assert any('"d2-warning"' in t for t in seen)
    if len(steps) > 4:
        assert not any('"d4-warning"' in t for t in seen)


async def test_info_patched_on_the_instance_inside_handlers() -> None:
    await _toggled(["warning", "patch", "warning", "unpatch", "warning"], "patched-info")


async def test_the_logger_class_changed_inside_handlers() -> None:
    await _toggled(["warning", "class", "warning", "unclass", "warning"], "loud-info")


async def test_logging_logger_info_patched_inside_handlers() -> None:
    await _toggled(["warning", "patch-class", "warning", "unpatch-class"], "class-info")


async def test_another_logger_set_inside_handlers() -> None:
    await _toggled(["warning", "swap", "warning", "back", "warning"], "loud-info")


async def test_a_parent_level_changed_inside_handlers() -> None:
    # the child logger's cache is cleared by a level change on its parent too
    fast = await _check(["quiet-child", "warning", "loud-parent", "warning"], logging.WARNING)
    infos = _infos(fast)
    assert not any('"d1-warning"' in t for t in infos)
    assert any(t.startswith('CP-1: send [3,"d2-loud-parent"') for t in infos)
    assert any('"d3-warning"' in t for t in infos)
