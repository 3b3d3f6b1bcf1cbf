"""Personal data: export and erase everything held about a customer, and retention (docs/privacy.md)."""
