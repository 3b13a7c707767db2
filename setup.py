"""The one compiled part of zoo: zoo._twisted._speedups (optional).

Everything else is declared in setup.cfg. The extension is built with CPython's
limited API, so one abi3 wheel serves Python 3.11 and later. It is optional: where
it cannot be compiled (no C compiler, no Python headers) the install goes on and
zoo runs its pure-Python twins of the same loops (docs/performance.rst).
"""

from setuptools import Extension, setup

setup(
    ext_modules=[
        Extension(
            "zoo._twisted._speedups",
            ["zoo/_twisted/_speedups.c"],
            py_limited_api=True,
            define_macros=[("Py_LIMITED_API", "0x030B0000")],
            optional=True,
        )
    ],
)
