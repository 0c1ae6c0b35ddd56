"""The tokenizer's own chat_template, with the trained span found by rendering."""

from __future__ import annotations

from ..dialogue import history_messages
from .base import PROBE, ChatTemplate, Piece, Rendered, TemplateError, eos_token


class NativeTemplate(ChatTemplate):
    """The tokenizer's own `chat_template`; the trained span is found by rendering the prompt and
    the prompt plus the reply, and taking what the reply added."""

    name = "native"
    description = "the tokenizer's own chat_template (trained span found by rendering the prefix)"

    def _render(self, tokenizer, messages, generation: bool) -> str:
        if tokenizer is None:
            raise TemplateError("the native template needs a tokenizer")
        if not getattr(tokenizer, "chat_template", None):
            raise TemplateError(
                "template 'native' needs a tokenizer with a chat_template; this one has none "
                "(choose one of soulchat, chatglm, chatglm2, chatglm3, glm4)"
            )
        return tokenizer.apply_chat_template(messages, tokenize=False, add_generation_prompt=generation)

    def render_prompt(self, history, query, tokenizer=None) -> str:
        return self._render(tokenizer, history_messages(history, query), True)

    def prompt_pieces(self, history, query, tokenizer=None):
        # The rendered chat template already spells its special tokens out; user text is not split.
        return [Rendered(self.render_prompt(history, query, tokenizer))]

    def history_round(self, index, user, psychologist):
        return [f"{user}{psychologist}"]  # only a size estimate for truncation

    def stop_token(self, tokenizer=None) -> str:
        (u1, p1), _ = PROBE
        prompt = self.render_prompt([], u1, tokenizer)
        full = self._render(tokenizer, history_messages([], u1, p1), False)
        if not full.startswith(prompt) or not full[len(prompt):].startswith(p1):
            raise TemplateError(
                "the tokenizer's chat_template does not render a reply as generation prompt + reply "
                "text; its trained span cannot be found by prefix (use a named template instead)"
            )
        stop = full[len(prompt) + len(p1):].rstrip()
        return stop or eos_token(tokenizer, self.name)

    def special_tokens(self, tokenizer=None) -> list[str]:
        return [self.stop_token(tokenizer)]

    def stop_pieces(self, tokenizer=None) -> list[Piece]:
        # What the chat_template writes after a reply, tokenized as it stands (it may be more
        # than one token, or not an added token at all).
        return [Rendered(self.stop_token(tokenizer))]
