"""The hub: channels' webhooks, conversation store and router, handoff queue, agent API and web chat."""
