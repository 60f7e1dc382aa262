from ga4_support import ga4, ga4_server

__all__ = ["ga4", "ga4_server"]
