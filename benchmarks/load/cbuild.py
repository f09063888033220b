"""Build a benchmark's Cython module in place on first use: the C echo floor and the chargers' core.

``build("benchmarks.load._gen_c")`` compiles ``benchmarks/load/_gen_c.pyx`` next to itself when
the extension is missing or older than its ``.pyx``, then imports it. Generator processes start
several at a time, so the check and the build run under an exclusive lock on a file beside the
``.pyx``: the first process builds, the others wait and import what it built.
"""

from __future__ import annotations

import fcntl
import importlib
import os
from types import ModuleType

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))


def _stale(pyx: str) -> bool:
    """No extension built yet, or one older than its ``.pyx`` or than a ``.pxi`` it may include
    (those live in ``benchmarks/load/``)."""
    folder, stem = os.path.split(pyx)
    stem = stem[: -len(".pyx")] + "."
    built = [f for f in os.listdir(folder) if f.startswith(stem) and f.endswith(".so")]
    if not built:
        return True
    sources = [pyx] + [os.path.join(HERE, f) for f in os.listdir(HERE) if f.endswith(".pxi")]
    newest = max(os.path.getmtime(f) for f in sources)
    return os.path.getmtime(os.path.join(folder, built[0])) < newest


def build(module: str) -> ModuleType:
    """Import ``module`` (dotted, under this repository), compiling its ``.pyx`` first if needed."""
    pyx = os.path.join(ROOT, *module.split(".")) + ".pyx"
    with open(pyx + ".lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if _stale(pyx):
            from Cython.Build import cythonize
            from setuptools import Distribution, Extension

            ext = Extension(module, [os.path.relpath(pyx, ROOT)], extra_compile_args=["-O2"])
            cwd = os.getcwd()
            os.chdir(ROOT)
            try:
                dist = Distribution({"ext_modules": cythonize([ext], quiet=True, language_level=3)})
                cmd = dist.get_command_obj("build_ext")
                cmd.inplace = True
                cmd.ensure_finalized()
                cmd.run()
            finally:
                os.chdir(cwd)
            importlib.invalidate_caches()
    return importlib.import_module(module)
