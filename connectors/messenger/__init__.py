"""Facebook Messenger through Meta's Send API: `connector` (the `MessengerConnector`), `parse` (webhook
notifications → messages, deliveries and read receipts). Graph calls and errors: `connectors.meta`."""
