"""`soulchat chat` (terminal) and `soulchat web` (gradio page): talk to a SoulChat model."""

from __future__ import annotations

import argparse
import sys
import uuid

from ._common import (
    UsageError,
    add_generation_arguments,
    add_llm_arguments,
    add_local_model_arguments,
    add_safety_arguments,
    check_port,
    generation_settings,
    port,
    safety_log,
    say,
    writable_file,
)

ORDER = 80

CHAT_DESCRIPTION = """\
Chat with a SoulChat model in the terminal, replies streamed token by token: --model FOLDER is a
local model (full model, or the base model with --adapter for a LoRA adapter); --base-url URL
[--model NAME] is an OpenAI-compatible endpoint such as vLLM (http://127.0.0.1:8000/v1; key from
$OPENAI_API_KEY). The old form --model URL --endpoint-model NAME still works this release.
Every turn goes through the safety layer: a message showing crisis risk is answered with
safe-messaging guidance and hotlines first. Commands: /reset (new conversation), /save FILE
(write the conversation as {"messages": [...]} JSON), /exit."""

WEB_DESCRIPTION = """\
Serve a gradio chat page for a SoulChat model: the AI disclosure first, streamed replies, a reset
button, and the safety layer on every turn. Binds 127.0.0.1 unless --host says otherwise;
analytics are off. For many users, serve the merged model with vLLM and pass its URL as --base-url."""

HELP = "commands: /reset  new conversation · /save FILE  write it as JSON · /exit  leave"


def _add_model_arguments(parser: argparse.ArgumentParser, concurrency_help: str | None = None) -> None:
    add_llm_arguments(parser, model_required=False, concurrency=None, concurrency_help=concurrency_help,
                      model_help="local model folder; with --base-url, the model name the endpoint serves "
                      "(default there: the first one it lists)")
    add_local_model_arguments(parser)
    parser.add_argument("--endpoint-model", metavar="NAME",
                        help="deprecated: use --base-url URL --model NAME")
    add_generation_arguments(parser)
    add_safety_arguments(parser)


def register(commands) -> None:
    chat = commands.add_parser("chat", help="chat with a model in the terminal (streaming, safety layer)",
                               description=CHAT_DESCRIPTION)
    _add_model_arguments(chat)
    chat.set_defaults(handler=run_chat)

    web = commands.add_parser("web", help="serve a gradio chat page (disclosure, streaming, safety layer)",
                              description=WEB_DESCRIPTION)
    _add_model_arguments(web, concurrency_help="replies generated at once (default: 1 for a local model, 32 for "
                         "an endpoint)")
    web.add_argument("--host", default="127.0.0.1", help="interface to bind (default: %(default)s)")
    web.add_argument("--port", type=port, default=7860, help="port, checked free at start-up (default: %(default)s)")
    web.set_defaults(handler=run_web)


def _settings(args):
    return generation_settings(args)


def _endpoint_form(args, command: str) -> None:
    """`--base-url URL --model NAME`; the old `--model URL [--endpoint-model NAME]` is read the same
    way, with a deprecation message (it goes in the next release)."""
    from ..backends import is_endpoint

    if args.model and is_endpoint(args.model):
        say(f"soulchat {command}: --model URL is deprecated; use --base-url {args.model}"
            + (f" --model {args.endpoint_model}" if args.endpoint_model else "") + " (the old form goes in the next release)")
        args.base_url, args.model = args.model, args.endpoint_model
    elif args.endpoint_model:
        say(f"soulchat {command}: --endpoint-model is deprecated; use --model {args.endpoint_model} with --base-url")
        if not args.model:
            args.model = args.endpoint_model
    args.endpoint_model = None


def _check(args) -> None:
    """Everything that can be checked before the conversation starts: a bad path fails here, not
    in the middle of a turn (where a failing flag-log write once hid the crisis reply)."""
    from ..io import model_source

    if args.flag_log is not None:
        writable_file(args.flag_log, "--flag-log")
    if args.base_url:
        if args.adapter:
            raise UsageError("--adapter applies to a local model; an endpoint serves its own weights")
        return
    if not args.model:
        raise UsageError("pass --model FOLDER (a local model) or --base-url URL (an OpenAI-compatible endpoint)")
    model_source(args.model)
    if args.adapter is not None:
        from pathlib import Path

        if not (Path(args.adapter) / "adapter_config.json").is_file():
            raise UsageError(f"--adapter {args.adapter}: no adapter_config.json there; expected the folder "
                             "a LoRA run of `soulchat train` saved")


def _backend(args):
    from ..backends import load_backend

    say(f"endpoint {args.base_url}" if args.base_url else f"loading {args.model} …")
    return load_backend(args.model, base_url=args.base_url, template=args.template, adapter=args.adapter,
                        timeout=args.timeout, attempts=args.max_attempts)


def run_chat(args: argparse.Namespace, stdin=None, stdout=None) -> int:
    from .. import safety
    from ..chat import ChatBackendError, ChatSession

    stdin, stdout = stdin or sys.stdin, stdout or sys.stdout

    def show(text: str = "", end: str = "\n") -> None:
        stdout.write(text + end)
        stdout.flush()

    settings = _settings(args)
    _endpoint_form(args, "chat")
    _check(args)
    # The disclosure comes before anything else, loading included.
    show(safety.disclosure(args.locale))
    show(HELP)
    backend = _backend(args)
    session = ChatSession(backend, settings=settings, locale=args.locale, flag_log=safety_log(args),
                          session_id=f"terminal-{uuid.uuid4().hex[:8]}")
    while True:
        show("\n用户：", end="")
        line = stdin.readline()
        if not line:  # end of input
            show()
            return 0
        text = line.strip()
        if not text:
            continue
        if text in ("/exit", "/quit"):
            return 0
        if text == "/reset":
            session.reset()
            show("（已开始新的对话）")
            continue
        if text.startswith("/save"):
            target = text[len("/save"):].strip()
            if not target:
                show("用法：/save FILE")
                continue
            try:
                show(f"（已保存 {len(session.history)} 轮对话到 {session.save(target)}）")
            except OSError as error:
                show(f"（无法保存：{error}）")
            continue
        if text.startswith("/"):
            show(HELP)
            continue
        show("心理咨询师：", end="")
        try:
            for chunk in session.send(text):
                if chunk.replaced:
                    show("\n（上面的回复未通过安全检查，已撤回）\n" + chunk.text, end="")
                else:
                    show(chunk.delta, end="")
        except ChatBackendError as error:
            show(f"\n（模型暂时无法回复：{error}）")
            continue
        except Exception as error:  # noqa: BLE001 - one failed turn must not end the conversation
            # whatever was shown (a safe reply included) stays on screen
            show(f"\n（出错了，这一轮没有完成：{type(error).__name__}: {error}。如果你现在很难受，请拨打心理援助热线 12356。）")
            continue
        show()


def run_web(args: argparse.Namespace) -> int:
    import logging

    from ..backends import EndpointBackend
    from ..chat.web import build_app, launch

    logging.basicConfig(level=logging.WARNING, format="%(asctime)s %(name)s: %(message)s")
    logging.getLogger("soulchat.chat").setLevel(logging.INFO)  # operators see each flag (no text)

    settings = _settings(args)
    _endpoint_form(args, "web")
    _check(args)
    check_port(args.host, args.port)
    backend = _backend(args)
    concurrency = args.concurrency or (32 if isinstance(backend, EndpointBackend) else 1)
    app = build_app(backend, settings=settings, locale=args.locale, concurrency=concurrency,
                    flag_log=safety_log(args))
    check_port(args.host, args.port)  # loading a model takes a while: someone may have taken it since
    say(f"serving on http://{args.host}:{args.port} (Ctrl-C to stop)")
    launch(app, host=args.host, port=args.port, block=True)
    return 0

