"""E-mail: `connector` (the `EmailConnector`: SMTP out, an inbound-parse webhook and optional IMAP polling in),
`compose` (a message as a threaded multipart e-mail), `parse` (what providers post, and raw MIME, → one
`ParsedEmail`; the webhook's signature), `reply` (the customer's new words without quoted history or
signature)."""
