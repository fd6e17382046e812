"""Early warning: alert rules, their evaluation, lifecycle and owners (SPEC section 5)."""
