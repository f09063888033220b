"""C-level picows echo: the floor under every Python server (``_echo_c.pyx``, built on first use).

The same protocol and fan-out as ``echo.py`` (whose server class it reuses); only the listener
differs: a ``cdef class`` subclassing picows' ``WSListener``, so picows reaches ``on_ws_frame``
through its vtable and the reply is written from a C buffer.
"""

from __future__ import annotations

import os
import sys
from typing import Any

from .. import frames
from .echo import EchoServer
from .launcher import launch

HERE = os.path.dirname(os.path.abspath(__file__))


def build() -> Any:
    """Import ``_echo_c``, compiling it in place first when it is missing or older than its .pyx."""
    pyx = os.path.join(HERE, "_echo_c.pyx")
    built = [f for f in os.listdir(HERE) if f.startswith("_echo_c.") and f.endswith(".so")]
    if not built or os.path.getmtime(os.path.join(HERE, built[0])) < os.path.getmtime(pyx):
        from Cython.Build import cythonize
        from setuptools import Distribution, Extension

        ext = Extension("benchmarks.load.servers._echo_c", [pyx], extra_compile_args=["-O2"])
        dist = Distribution({"ext_modules": cythonize([ext], quiet=True, language_level=3)})
        cmd = dist.get_command_obj("build_ext")
        cmd.inplace = True
        root = os.path.dirname(os.path.dirname(os.path.dirname(HERE)))
        cwd = os.getcwd()
        os.chdir(root)
        try:
            cmd.ensure_finalized()
            cmd.run()
        finally:
            os.chdir(cwd)
    from . import _echo_c

    return _echo_c


class CEchoServer(EchoServer):
    impl = "picows echo (C listener)"

    def __init__(self) -> None:
        super().__init__()
        self._module = build()
        self._boot = frames.ECHO_RESULTS[ord("B")]
        self._heartbeat = frames.ECHO_RESULTS[ord("H")]

    def connection(self) -> Any:
        return self._module.CEchoConnection(
            self, self._boot, self._heartbeat, frames.ECHO_EMPTY_RESULT
        )


if __name__ == "__main__":
    if "--build-only" in sys.argv:
        build()
    else:
        launch(CEchoServer)
