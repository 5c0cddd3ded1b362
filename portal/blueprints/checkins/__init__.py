"""Daily check-ins, PHQ-9/GAD-7/C-SSRS screeners, trends, safety plans, crisis loop."""
