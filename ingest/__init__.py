"""Ingestion: files and sources -> validated rows -> one transaction in the store."""
