"""WhatsApp through Meta's Cloud API: `connector` (the `WhatsAppCloudConnector`), `parse` (webhook
notifications → messages and status updates). Graph calls and errors: `connectors.meta`."""
