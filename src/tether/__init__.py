"""tether: learn decision policies from logged data, tethered to the evidence."""

__version__ = "0.1.0"
