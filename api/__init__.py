"""API and the vets' web page (issue 7: not built yet)."""
