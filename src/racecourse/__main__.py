"""``python -m racecourse`` is the same program as the ``racecourse`` command."""

from .cli import entry

if __name__ == "__main__":
    entry()
