"""Grafana dashboards as code and provisioning (issue 8: not built yet)."""
