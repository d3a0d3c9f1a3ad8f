"""The pack's version, in a leaf module so that any room (ops/ included) can read it without importing the pack."""

__version__ = "0.1.0"
