"""Builds the C extensions (the Trivium keystream core and the fused float-row path of the
reference unit); everything else is in pyproject.toml."""

from setuptools import Extension, setup

setup(
    ext_modules=[
        Extension(
            "dynamarks.host._trivium",
            sources=["host/trivium_core.c"],
            extra_compile_args=["-O3"],
        ),
        Extension(
            "dynamarks.host._alter_core",
            sources=["host/alter_core.c"],
            extra_compile_args=["-O3", "-ffp-contract=off", "-fno-fast-math"],
        ),
    ]
)
