"""Allows `python -m tunix_rt`."""

from tunix_rt.cli import main

if __name__ == "__main__":  # pragma: no cover - exercised through a subprocess test
    main()
