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

COMPILED = ("_wire", "_engine", "_datetime", "_compat_fast")


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

    def copy_file(self, infile, outfile, *args, **kwargs):  # type: ignore[no-untyped-def]
        """``--inplace``: replace a module atomically (write aside, then rename). Copying over a
        shared object that a running process has mapped crashes that process (measured here:
        test runs died with SIGSEGV while another shell rebuilt)."""
        if not (self.inplace and str(outfile).endswith((".so", ".pyd"))):
            return super().copy_file(infile, outfile, *args, **kwargs)
        aside = f"{outfile}.{os.getpid()}.tmp"
        result = super().copy_file(infile, aside, *args, **kwargs)
        os.replace(aside, outfile)
        return (outfile, result[1])


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
    # Each extension is named ocppfast.<name>_c and built from ocppfast/<name>.py itself: Cython
    # takes the module name from the Extension and applies the augmenting ocppfast/<name>_c.pxd
    # by that name, so nothing is copied and tracebacks point at the shipped ocppfast/<name>.py.
    # The generated C goes to build/cython/ (build_dir), never next to the sources.
    exts = [
        Extension(
            f"ocppfast.{name}_c",
            [os.path.join("ocppfast", f"{name}.py")],
            depends=[os.path.join("ocppfast", f"{name}_c.pxd")],
            extra_compile_args=["-O2"],
        )
        for name in COMPILED
        # OCPPFAST_BUILD_ONLY=_compat_fast,_datetime rebuilds just those (working on one module
        # while another build of the others may be running in the same tree).
        if name in (os.environ.get("OCPPFAST_BUILD_ONLY") or ",".join(COMPILED)).split(",")
    ]
    # Cython's dependency check does not see the augmenting .pxd (it is named after the
    # extension, not the source): C generated before the .pxd last changed is made again.
    for name in COMPILED:
        generated = os.path.join("build", "cython", "ocppfast", f"{name}.c")
        pxd = os.path.join("ocppfast", f"{name}_c.pxd")
        if os.path.exists(generated) and os.path.getmtime(pxd) > os.path.getmtime(generated):
            os.remove(generated)
    return cythonize(
        exts,
        language_level=3,
        compiler_directives={
            "boundscheck": False,
            "wraparound": False,
            "embedsignature": True,
        },
        quiet=True,
        build_dir=os.path.join("build", "cython"),
        annotate=os.environ.get("OCPPFAST_ANNOTATE", "") not in ("", "0"),
    )


setup(ext_modules=_extensions(), cmdclass={"build_ext": OptionalBuildExt})
