"""Old module names that still import, for one release, after the 0.1 layout change.

    soulchat.web          -> soulchat.chat.web             (the gradio page sits on the chat stage)
    soulchat.fake_server  -> soulchat.testing.fake_server  (helpers for users' own tests)
    soulchat.data         -> soulchat.bundled              (the sample data shipped with the package)

The old name is an alias, not a copy: `import soulchat.web` returns the very module object
`soulchat.chat.web` (so `monkeypatch.setattr("soulchat.web.launch", ...)` patches the real module)
and warns with a DeprecationWarning. There is deliberately no file at the old paths: a file there
would stop git from seeing the moves as renames, and edits made elsewhere to the old files would no
longer merge into the new ones.
"""

from __future__ import annotations

import importlib
import importlib.abc
import importlib.util
import sys
import warnings

MOVED = {
    "soulchat.web": "soulchat.chat.web",
    "soulchat.fake_server": "soulchat.testing.fake_server",
    "soulchat.data": "soulchat.bundled",
}


class MovedModuleFinder(importlib.abc.MetaPathFinder, importlib.abc.Loader):
    """Resolves an old module name (`MOVED`) to the module at its new name."""

    def find_spec(self, fullname, path=None, target=None):
        if fullname not in MOVED:
            return None
        return importlib.util.spec_from_loader(fullname, self)

    def create_module(self, spec):
        new = MOVED[spec.name]
        warnings.warn(
            f"{spec.name} moved to {new}; the old name goes away in the next release",
            DeprecationWarning,
            stacklevel=2,
        )
        module = importlib.import_module(new)
        spec.loader_state = module.__spec__
        return module

    def exec_module(self, module):
        # the import system stamped the alias spec on the real module: give it back its own
        module.__spec__ = module.__spec__.loader_state


def install() -> None:
    if not any(isinstance(finder, MovedModuleFinder) for finder in sys.meta_path):
        sys.meta_path.append(MovedModuleFinder())
