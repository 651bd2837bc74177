"""Operational plumbing outside the warehouse: alert delivery and Dagster run-history retention."""
