"""Proactive notifications: `templates` (named texts per language and the channels' approved templates),
`service` (a send, and sending one in one transaction), `scheduler` (due rows, per-channel rate limits),
`consent` (opt-out and opt-in: keywords, links, agents), `store` (the table), `api` and `pages`."""
