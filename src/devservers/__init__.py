"""Private PostgreSQL/PostGIS and Redis servers for development, tests and benchmarks.

Not adapters: they implement no port. They start the servers the adapters then connect to, so
`reserva serve` and the test suite need neither Docker nor hand-configured servers. Production
sets DATABASE_URL and REDIS_URL and never imports this package.
"""
