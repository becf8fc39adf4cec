"""Business acts as plain functions over a SQLAlchemy Session: no Flask, never a commit."""
