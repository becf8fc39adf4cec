"""Clinical criteria for imaging orders: which questions to ask by phone, and the outcome.

`decide` evaluates the rules for a request; `rules` reads and checks data/criteria.yaml.
"""

from ivr.criteria.decide import (
    Criteria,
    CriteriaError,
    Decision,
    Outcome,
    Question,
    Rule,
    parse_answer,
)
from ivr.criteria.rules import load_rules, parse_rules

__all__ = [
    "Criteria",
    "CriteriaError",
    "Decision",
    "Outcome",
    "Question",
    "Rule",
    "load_rules",
    "parse_answer",
    "parse_rules",
]
