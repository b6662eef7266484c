"""Async client for the Microsoft Graph communications (calls) API."""
from calls_async._version import __version__

__all__ = ["__version__"]
