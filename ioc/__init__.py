"""Education Intelligent Operations Center."""

__version__ = "0.1.0"
