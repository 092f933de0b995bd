"""Settings, message catalogs and the shipped example YAML (FAQ, config)."""

from pathlib import Path

__all__ = ["CONFIG_DIR"]

CONFIG_DIR = Path(__file__).resolve().parent
"""Where the shipped catalogs, example config and example FAQ live."""
