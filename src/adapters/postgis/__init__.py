"""postgis adapter."""
