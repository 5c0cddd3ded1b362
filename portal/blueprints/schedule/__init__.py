"""The patient's program day and week, calendar feed, rosters and attendance."""
