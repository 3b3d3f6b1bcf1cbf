"""WhatsApp and SMS through Twilio: `connector` (the `TwilioConnector`), `parse` (Twilio's form posts →
`InboundMessage`), `errors` (the one mapper from Twilio and transport failures to `core.errors`),
`transport` (the httpx client the twilio `Client` sends through)."""
