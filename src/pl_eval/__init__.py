"""pl_eval: achievement effects of school programs from NWEA MAP exports, estimated RAND-style."""


def __getattr__(name: str) -> str:
    """``__version__``, looked up when first asked for: importing importlib.metadata costs
    more than the rest of ``pl-eval --help``."""
    if name != "__version__":
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    from importlib.metadata import PackageNotFoundError, version

    try:
        found = version("pl_eval")
    except PackageNotFoundError:  # running from a source tree without installation
        found = "0.0.0+unknown"
    globals()["__version__"] = found
    return found
