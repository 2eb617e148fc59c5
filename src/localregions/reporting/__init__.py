"""Reporting: the paper's claims checked over seeds, figures, the Markdown report, comparison with a reference."""

from .claims import CLAIMS, check_claims

__all__ = ["CLAIMS", "check_claims"]
