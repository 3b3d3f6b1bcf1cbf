"""What Facebook Messenger and the WhatsApp Cloud API share: Meta's Graph API client and its one error mapper
(`graph`), and the webhook's GET verification handshake and `X-Hub-Signature-256` check (`webhook`)."""
