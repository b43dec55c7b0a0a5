"""The package version, importable without importing the package's front-ends."""

__version__ = "0.1.0"
