"""pl_eval: achievement effects of school programs from NWEA MAP exports, estimated RAND-style."""

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("pl_eval")
except PackageNotFoundError:  # running from a source tree without installation
    __version__ = "0.0.0+unknown"
