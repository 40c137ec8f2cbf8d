"""Modules loaded on first use, so a stage process imports only what its stage uses.

Every workflow job is a fresh ``pl-eval`` process; importing pandas, pyarrow, scipy,
statsmodels, scikit-learn, matplotlib, Snakemake and the report's libraries for every job cost
about 2 s each. With :func:`module` a name can be bound at the top of a file as usual while the
import waits until an attribute is used; with :func:`exports` a package offers its submodules'
names while importing each submodule only when one of its names is used.
"""

from __future__ import annotations

import importlib
import sys
from collections.abc import Callable, Mapping
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


def exports(package: str, sources: Mapping[str, str]) -> Callable[[str], object]:
    """A package's module ``__getattr__`` (PEP 562) importing each public name from its
    submodule when first used, so importing one name of the package (or one submodule) does
    not import every sibling and their libraries.

    ``sources`` maps a public name to the submodule that defines it, as ``"module"`` or, when
    it is named otherwise there, ``"module.name"``; any other name is tried as a submodule.
    """

    def __getattr__(name: str) -> object:
        if name.startswith("__"):  # hasattr probes (__wrapped__, __path__...): no submodule
            raise AttributeError(f"module {package!r} has no attribute {name!r}")
        if name not in sources:
            try:  # a submodule not imported yet (importing it binds it on the package)
                return importlib.import_module(f"{package}.{name}")
            except ModuleNotFoundError as exc:
                if exc.name != f"{package}.{name}":  # the submodule is there but failed
                    raise
            raise AttributeError(f"module {package!r} has no attribute {name!r}")
        module, _, renamed = sources[name].partition(".")
        value = getattr(importlib.import_module(f"{package}.{module}"), renamed or name)
        setattr(sys.modules[package], name, value)  # later uses skip this function
        return value

    return __getattr__
