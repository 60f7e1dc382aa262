"""The Litestar application: thin controllers that translate HTTP to use-case calls and back."""
