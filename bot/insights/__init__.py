"""Learning from conversations: outcome records, metrics and reports, the review inbox, content gaps, search."""
