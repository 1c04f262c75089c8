"""Django's PostgreSQL backend with a pool that recovers from a Postgres restart at once (base.py)."""
