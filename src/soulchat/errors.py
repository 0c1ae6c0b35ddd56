"""`SoulChatError`: the common base of soulchat's own exceptions.

Each specific class keeps its built-in base too (`InputError` is still a `ValueError`,
`RequestFailed` still a `RuntimeError`), so existing `except ValueError:` code keeps working, and
`except soulchat.SoulChatError:` catches every failure that soulchat itself raises and explains.
"""

from __future__ import annotations


class SoulChatError(Exception):
    """A failure soulchat raises on purpose, with a message meant for the person who ran it."""
