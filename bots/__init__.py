"""Channel adapters, the normalized message types and the runner that wires them to the engine.

Everything that knows a messaging platform lives in this package; nothing outside it imports
aiogram, vk_api or viberbot.
"""
