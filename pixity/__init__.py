"""pixity: research-to-live intraday trading for NSE equities, built around Jupyter."""

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("pixity")
except PackageNotFoundError:  # running from a source tree that was never installed
    __version__ = "0.0.0+unknown"
