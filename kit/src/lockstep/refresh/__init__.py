"""Scheduled refresh: re-fit the champion on newer data and decide whether to release."""
