"""Transports into the core: Litestar HTTP and the typer CLI, wired by `container.py`."""
