"""Business acts as plain functions over a SQLAlchemy Session: no Flask, never a commit.

The phone line reaches them through the flow actions (`ivr.actions`), people through the
API (`ivr.api`, whose `presenters` shape the rows they return) and the CLI (`ivr.cli`).
"""
