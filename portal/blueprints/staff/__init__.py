"""Staff home, patient lists and summaries, access reasons, and admin enrollment."""
