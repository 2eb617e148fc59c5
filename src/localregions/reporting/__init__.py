"""Reporting: the paper's claims checked over seeds, figures, the Markdown report, comparison with a reference."""

from .claim_records import CLAIMS
from .claims import check_claims

__all__ = ["CLAIMS", "check_claims"]
