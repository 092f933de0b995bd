"""Persistence: SQLAlchemy models and repositories (all SQL lives here), state stores and locks."""
