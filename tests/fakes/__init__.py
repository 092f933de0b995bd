"""Stand-in platform servers (aiohttp apps) the adapters reach through their API URLs."""
