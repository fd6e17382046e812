"""Scheduled reports: a page of the app printed to PDF and emailed to its subscribers (issue 15)."""
