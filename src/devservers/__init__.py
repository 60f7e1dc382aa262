"""Private PostgreSQL/PostGIS and Redis servers, and a local Stripe fake, for development,
tests and benchmarks.

Not adapters: they implement no port. They start the servers the adapters then connect to, so
`reserva serve` and the test suite need neither Docker, hand-configured servers nor the
internet. Production sets DATABASE_URL, REDIS_URL and Stripe's keys and never imports this
package.
"""
