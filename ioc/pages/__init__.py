"""Dash pages: thin layouts and callbacks over the metrics layer."""
