"""Modules loaded on first use, so a stage process imports only what its stage uses.

Every workflow job is a fresh ``pl-eval`` process; importing statsmodels, scikit-learn,
matplotlib, Snakemake and the report's libraries for every job cost about 2 s each. With
:func:`module` a name can be bound at the top of a file as usual while the import waits until
an attribute is used (the standard library's :class:`importlib.util.LazyLoader`).
"""

from __future__ import annotations

import importlib.util
import sys
from types import ModuleType


def module(name: str) -> ModuleType:
    """The module ``name``, executed when one of its attributes is first used (its parent
    packages are imported now: keep their ``__init__`` light)."""
    if name in sys.modules:
        return sys.modules[name]
    spec = importlib.util.find_spec(name)
    if spec is None or spec.loader is None:
        raise ModuleNotFoundError(f"No module named {name!r}", name=name)
    loader = importlib.util.LazyLoader(spec.loader)
    spec.loader = loader
    lazy = importlib.util.module_from_spec(spec)
    sys.modules[name] = lazy
    loader.exec_module(lazy)
    return lazy
