"""Build hook: the package build compiles the message catalogues (.po to .mo).

Everything else is in pyproject.toml. An editable install needs no build step: api/i18n.py
compiles a missing or stale .mo in memory on first use.
"""

from __future__ import annotations

from pathlib import Path

from setuptools import setup
from setuptools.command.build_py import build_py


class BuildPyWithCatalogues(build_py):
    """build_py, then every api/locales/*/LC_MESSAGES/*.po compiled beside itself."""

    def run(self) -> None:
        """Copy the packages, then compile their catalogues in the build folder."""
        super().run()
        from babel.messages.mofile import write_mo
        from babel.messages.pofile import read_po

        for po in Path(self.build_lib, "api", "locales").glob("*/LC_MESSAGES/*.po"):
            with po.open("rb") as f:
                catalog = read_po(f, locale=po.parent.parent.name)
            with po.with_suffix(".mo").open("wb") as f:
                write_mo(f, catalog)


setup(cmdclass={"build_py": BuildPyWithCatalogues})
