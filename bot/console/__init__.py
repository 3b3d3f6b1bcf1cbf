"""The agent console: accounts and sessions (`accounts`), request authentication (`auth`), the page and its
live socket (`pages`), and the `python -m bot.console` command line."""
