"""Modules loaded on first use, so a stage process imports only what its stage uses.

Every workflow job is a fresh ``pl-eval`` process; importing pandas, pyarrow, scipy,
statsmodels, scikit-learn, matplotlib, Snakemake and the report's libraries for every job cost
about 2 s each. With :func:`module` a name can be bound at the top of a file as usual while the
import waits until an attribute is used.
"""

from __future__ import annotations

import importlib
import sys
from types import ModuleType


class _Deferred(ModuleType):
    """Stands for a module and imports it (parents included) when one of its attributes is
    first used; every use reads the imported module, so it sees later changes to it. Unlike
    the standard library's ``LazyLoader`` it needs no import of the parent package to be made
    (``pyarrow.compute`` costs nothing until used) and puts nothing half-loaded into
    ``sys.modules``."""

    def __getattr__(self, attribute: str):
        return getattr(importlib.import_module(self.__name__), attribute)


def module(name: str) -> ModuleType:
    """The module ``name``, imported when one of its attributes is first used."""
    return sys.modules.get(name) or _Deferred(name)
