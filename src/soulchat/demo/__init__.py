"""The embedded default, `soulchat demo`, and the offline SmolLM2 model it trains."""
