"""Rules: clinically meaningful alerts and recommendation drafts that a vet approves (issue 6: not built yet)."""
