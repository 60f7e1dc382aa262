"""The `reserva` command line (typer), on the same container as the HTTP API."""
