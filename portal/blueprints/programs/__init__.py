"""Programs, tracks, enrollments and care teams: who belongs where, who sees whom."""
