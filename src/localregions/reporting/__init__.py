"""Reporting: the paper's claims checked over seeds, figures, the Markdown report, comparison with a reference."""
