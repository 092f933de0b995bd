"""The platform-free dialog engine and its flows.

Nothing here imports a messaging platform's library or asks which channel a message came from:
the engine takes :class:`~bots.messages.IncomingMessage` and returns :class:`~bots.messages.Reply`.
"""
