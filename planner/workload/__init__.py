"""Workload: monitoring visits and hours per site and month, staff capacity (DESIGN §3)."""
