"""Build the compiled hot path (Cython, pure-Python mode) or install pure Python.

Each compiled module is one source with two uses: ``ocppfast/_wire.py`` with the augmenting
``ocppfast/_wire_c.pxd`` becomes the extension ``ocppfast._wire_c``; the same ``.py`` is also shipped
and imported as is when the extension is missing or ``OCPPFAST_NO_EXTENSIONS=1`` is set (the way
aiohttp builds its websocket reader).

``OCPPFAST_NO_EXTENSIONS=1`` at build time skips compilation. A missing Cython or compiler does the
same, and says so once.
"""

import os
import sys

from setuptools import setup
from setuptools.command.build_ext import build_ext

COMPILED = ("_wire", "_engine")


class OptionalBuildExt(build_ext):
    """Fall back to pure Python when the C build fails (no compiler), saying so once."""

    def run(self) -> None:
        try:
            super().run()
        except Exception as exc:  # noqa: BLE001 - any build failure means "pure Python"
            _say_pure(f"building the extensions failed ({exc})")

    def build_extension(self, ext) -> None:  # type: ignore[no-untyped-def]
        try:
            super().build_extension(ext)
        except Exception as exc:  # noqa: BLE001
            _say_pure(f"compiling {ext.name} failed ({exc})")


_said = False


def _say_pure(why: str) -> None:
    global _said
    if not _said:
        _said = True
        sys.stderr.write(
            f"\n*** ocppfast: {why}; installing the pure-Python implementation "
            "(same API, slower). ***\n\n"
        )


def _extensions():  # type: ignore[no-untyped-def]
    if os.environ.get("OCPPFAST_NO_EXTENSIONS", "") not in ("", "0"):
        _say_pure("OCPPFAST_NO_EXTENSIONS is set")
        return []
    try:
        from Cython.Build import cythonize
        from setuptools import Extension
    except ImportError:
        _say_pure("Cython is not available")
        return []
    # Cython applies an augmenting .pxd by the module's name, so the source is copied next to
    # its .pxd under the extension's name (build/cython/ocppfast/_wire_c.py + _wire_c.pxd).
    # The shipped pure module stays ocppfast/_wire.py: one source, never edited in two places.
    out = os.path.join("build", "cython", "ocppfast")
    os.makedirs(out, exist_ok=True)
    exts = []
    for name in COMPILED:
        for src, dst in ((f"{name}.py", f"{name}_c.py"), (f"{name}_c.pxd", f"{name}_c.pxd")):
            with open(os.path.join("ocppfast", src), encoding="utf-8") as f:
                text = f.read()
            target = os.path.join(out, dst)
            if not os.path.exists(target) or open(target, encoding="utf-8").read() != text:
                with open(target, "w", encoding="utf-8") as f:
                    f.write(text)
        exts.append(
            Extension(f"ocppfast.{name}_c", [os.path.join(out, f"{name}_c.py")], extra_compile_args=["-O2"])
        )
    return cythonize(
        exts,
        language_level=3,
        compiler_directives={
            "boundscheck": False,
            "wraparound": False,
            "embedsignature": True,
        },
        quiet=True,
    )


setup(ext_modules=_extensions(), cmdclass={"build_ext": OptionalBuildExt})
