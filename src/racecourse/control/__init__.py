"""Controlled scheduling: real worker processes, one visible operation at a time."""
