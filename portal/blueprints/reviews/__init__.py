"""Utilization review: coverage and payer authorizations, days used from attendance,
the review worklist, the concurrent-review packet and the billing days export."""
