"""Builds the one C extension (the Trivium keystream core); everything else is in pyproject.toml."""

from setuptools import Extension, setup

setup(
    ext_modules=[
        Extension(
            "dynamarks.host._trivium",
            sources=["host/trivium_core.c"],
            extra_compile_args=["-O3"],
        )
    ]
)
