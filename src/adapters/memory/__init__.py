"""memory adapter."""
