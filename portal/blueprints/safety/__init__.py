"""Safety: risk flags and their escalation, pages to staff phones, safety plans."""
