"""The web demo: a gradio chat page on top of `soulchat.chat`, with the disclosure shown first,
streamed replies, a reset button and the safety layer on every turn.

The page keeps no conversation on the server: each turn rebuilds a `ChatSession` from the
chatbot's messages, so any number of visitors share one backend without sharing history.
Analytics are off and the server binds 127.0.0.1 unless told otherwise.
"""


import logging
import os
import time

from .backends import ChatBackendError, GenerationSettings
from .chat import ChatSession

logger = logging.getLogger("soulchat.web")
TITLE = "SoulChat 心理倾诉"
PLACEHOLDER = "说说你的感受吧……（Enter 发送）"
FRAME = 0.05  # seconds between streamed page updates
BACKEND_FAILED = "（抱歉，模型暂时无法回复：{error}。如果你现在很难受，请拨打心理援助热线 12356。）"


def build_app(
    backend,
    *,
    settings: GenerationSettings | None = None,
    locale: str = "zh-CN",
    flag_log=None,
    concurrency: int = 1,
):
    """The gradio Blocks app; `concurrency` is how many replies are generated at once, `flag_log`
    a `safety.SafetyLog` (None: the process-wide in-memory log)."""
    os.environ["GRADIO_ANALYTICS_ENABLED"] = "False"  # read at import time and at launch
    import gradio as gr

    from . import safety

    settings = settings or GenerationSettings()

    def respond(message: str, messages: list | None, request: gr.Request):
        message = (message or "").strip()
        messages = list(messages or [])
        if not message:
            yield "", messages
            return
        session = ChatSession.from_messages(
            backend, messages, settings=settings, locale=locale, flag_log=flag_log,
            session_id=f"web-{getattr(request, 'session_hash', None) or 'api'}",
        )
        shown = messages + [
            {"role": "user", "content": message},
            {"role": "assistant", "content": ""},
        ]
        yield "", shown
        try:
            last = 0.0
            for chunk in session.send(message):
                shown[-1] = {"role": "assistant", "content": chunk.text}
                # Pieces arriving within one frame go out together: the page looks the same and
                # the server does not re-send the conversation once per token.
                if chunk.replaced or time.monotonic() - last >= FRAME:
                    last = time.monotonic()
                    yield "", shown
            yield "", shown
        except Exception as error:  # noqa: BLE001 - ChatBackendError or anything else: the page gets a reply
            # What was already shown stays (after a crisis turn: the safe reply with its hotlines).
            cause = str(error) if isinstance(error, ChatBackendError) else f"{type(error).__name__}: {error}"
            logger.error("reply failed: %s", cause)
            before = shown[-1]["content"]
            note = BACKEND_FAILED.format(error=cause)
            shown[-1] = {"role": "assistant", "content": f"{before}\n\n{note}" if before else note}
            yield "", shown

    with gr.Blocks(title=TITLE, analytics_enabled=False) as app:
        gr.Markdown(f"## {TITLE}")
        gr.Markdown(safety.disclosure(locale), elem_id="disclosure")
        # Plain text: a model reply cannot inject links or images, and the safe reply shows as written.
        chatbot = gr.Chatbot(elem_id="chat", height=460, label="对话", buttons=["copy"], render_markdown=False)
        with gr.Row():
            textbox = gr.Textbox(
                placeholder=PLACEHOLDER, show_label=False, scale=8, elem_id="message", autofocus=True
            )
            send = gr.Button("发送", variant="primary", scale=1, elem_id="send")
        reset = gr.Button("重新开始", elem_id="reset")
        chat = dict(inputs=[textbox, chatbot], outputs=[textbox, chatbot], concurrency_limit=concurrency)
        textbox.submit(respond, api_name="chat", **chat)
        send.click(respond, api_name=False, **chat)
        reset.click(lambda: ([], ""), outputs=[chatbot, textbox], api_name="reset")
    return app


def launch(app, *, host: str = "127.0.0.1", port: int = 7860, block: bool = True):
    """Serve `app`; with `block=False` returns at once (tests, benchmarks): call `app.close()`."""
    app.queue(default_concurrency_limit=None)
    return app.launch(
        server_name=host,
        server_port=port,
        prevent_thread_lock=not block,
        quiet=not block,
        ssr_mode=False,
        mcp_server=False,
        show_error=True,
        footer_links=[],
    )
