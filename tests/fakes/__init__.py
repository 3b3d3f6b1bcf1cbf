"""Small real HTTP servers on 127.0.0.1 that speak the Telegram Bot API, Twilio's REST API and Rasa's REST
channel, for connector tests. Each records what it received and can be told to fail."""
