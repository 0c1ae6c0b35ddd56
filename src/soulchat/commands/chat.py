"""`soulchat chat` (terminal) and `soulchat web` (gradio page): talk to a SoulChat model."""

from __future__ import annotations

import argparse
import sys
import uuid

from ._common import UsageError, add_request_arguments, integer, number, port, say, writable_file

ORDER = 80

CHAT_DESCRIPTION = """\
Chat with a SoulChat model in the terminal, replies streamed token by token. MODEL is a local
model folder (full model, or the base model with --adapter for a LoRA adapter) or the URL of an
OpenAI-compatible endpoint such as vLLM (http://127.0.0.1:8000/v1; key from $OPENAI_API_KEY).
Every turn goes through the safety layer: a message showing crisis risk is answered with
safe-messaging guidance and hotlines first. Commands: /reset (new conversation), /save FILE
(write the conversation as {"messages": [...]} JSON), /exit."""

WEB_DESCRIPTION = """\
Serve a gradio chat page for a SoulChat model: the AI disclosure first, streamed replies, a reset
button, and the safety layer on every turn. Binds 127.0.0.1 unless --host says otherwise;
analytics are off. For many users, serve the merged model with vLLM and pass its URL as --model."""

HELP = "commands: /reset  new conversation · /save FILE  write it as JSON · /exit  leave"


def _add_model_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--model", required=True, metavar="PATH_OR_URL",
                        help="local model folder, or an OpenAI-compatible endpoint URL (http://…/v1)")
    add_local_model_arguments(parser)
    parser.add_argument("--endpoint-model", metavar="NAME",
                        help="model name at the endpoint (default: the first one it lists)")
    parser.add_argument("--top-p", type=number(above=0, maximum=1), default=0.75,
                        help="nucleus sampling mass (default: %(default)s)")
    parser.add_argument("--temperature", type=number(0.0), default=0.95,
                        help="sampling temperature, 0 for greedy (default: %(default)s)")
    parser.add_argument("--max-new-tokens", type=integer(1), default=512, help="longest reply (default: %(default)s)")
    parser.add_argument("--max-length", type=integer(16), default=1536,
                        help="prompt budget in tokens; oldest rounds are cut first (default: %(default)s)")
    add_request_arguments(parser)
    add_safety_arguments(parser)


def add_local_model_arguments(parser: argparse.ArgumentParser) -> None:
    """How a local model folder is loaded (`chat`, `web`, `serve`)."""
    from ..templates import TEMPLATES

    parser.add_argument("--adapter", metavar="PATH", help="LoRA adapter folder on top of --model (local models)")
    parser.add_argument("--template", default="soulchat", choices=sorted(TEMPLATES),
                        help="chat template the model was trained with (local models; default: %(default)s)")


def add_safety_arguments(parser: argparse.ArgumentParser) -> None:
    """The safety layer's locale and flag log (`chat`, `web`, `serve`)."""
    parser.add_argument("--locale", default="zh-CN", help="locale of safety replies and hotlines (default: %(default)s)")
    parser.add_argument("--flag-log", metavar="FILE",
                        help="append every safety flag to this JSON Lines file, checked for writing at start-up; "
                        "a write that fails later is reported on stderr and never holds back a reply "
                        "(default: kept in memory; the web server also logs category and rules to stderr)")
    parser.add_argument("--log-text", action="store_true",
                        help="keep the flagged text and matched words in the flag log (privacy mode, the "
                        "default, keeps categories, rules and offsets only)")


def register(commands) -> None:
    chat = commands.add_parser("chat", help="chat with a model in the terminal (streaming, safety layer)",
                               description=CHAT_DESCRIPTION)
    _add_model_arguments(chat)
    chat.set_defaults(handler=run_chat)

    web = commands.add_parser("web", help="serve a gradio chat page (disclosure, streaming, safety layer)",
                              description=WEB_DESCRIPTION)
    _add_model_arguments(web)
    web.add_argument("--host", default="127.0.0.1", help="interface to bind (default: %(default)s)")
    web.add_argument("--port", type=port, default=7860, help="port, checked free at start-up (default: %(default)s)")
    web.add_argument("--concurrency", type=integer(1), default=None,
                     help="replies generated at once (default: 1 for a local model, 32 for an endpoint)")
    web.set_defaults(handler=run_web)


def _settings(args):
    from ..chat import GenerationSettings

    return GenerationSettings(top_p=args.top_p, temperature=args.temperature,
                              max_new_tokens=args.max_new_tokens, max_length=args.max_length)


def _check(args) -> None:
    """Everything that can be checked before the conversation starts: a bad path fails here, not
    in the middle of a turn (where a failing flag-log write once hid the crisis reply)."""
    from ..chat import is_endpoint
    from ..io import model_source

    if args.flag_log is not None:
        writable_file(args.flag_log, "--flag-log")
    if is_endpoint(args.model):
        if args.adapter:
            raise UsageError("--adapter applies to a local model; an endpoint serves its own weights")
        return
    model_source(args.model)
    if args.adapter is not None:
        from pathlib import Path

        if not (Path(args.adapter) / "adapter_config.json").is_file():
            raise UsageError(f"--adapter {args.adapter}: no adapter_config.json there; expected the folder "
                             "a LoRA run of `soulchat train` saved")


def _flag_log(args):
    from ..safety import SafetyLog

    return SafetyLog(args.flag_log, privacy=not args.log_text)


def _backend(args):
    from ..chat import is_endpoint, load_backend

    say(f"loading {args.model} …" if not is_endpoint(args.model) else f"endpoint {args.model}")
    return load_backend(args.model, template=args.template, adapter=args.adapter,
                        endpoint_model=args.endpoint_model, timeout=args.timeout, attempts=args.max_attempts)


def run_chat(args: argparse.Namespace, stdin=None, stdout=None) -> int:
    from .. import safety
    from ..chat import ChatBackendError, ChatSession

    stdin, stdout = stdin or sys.stdin, stdout or sys.stdout

    def show(text: str = "", end: str = "\n") -> None:
        stdout.write(text + end)
        stdout.flush()

    settings = _settings(args)
    _check(args)
    # The disclosure comes before anything else, loading included.
    show(safety.disclosure(args.locale))
    show(HELP)
    backend = _backend(args)
    session = ChatSession(backend, settings=settings, locale=args.locale, flag_log=_flag_log(args),
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

    from ..chat import EndpointBackend
    from ..web import build_app, launch

    logging.basicConfig(level=logging.WARNING, format="%(asctime)s %(name)s: %(message)s")
    logging.getLogger("soulchat.chat").setLevel(logging.INFO)  # operators see each flag (no text)

    settings = _settings(args)
    _check(args)
    check_port(args.host, args.port)
    backend = _backend(args)
    concurrency = args.concurrency or (32 if isinstance(backend, EndpointBackend) else 1)
    app = build_app(backend, settings=settings, locale=args.locale, concurrency=concurrency,
                    flag_log=_flag_log(args))
    check_port(args.host, args.port)  # loading a model takes a while: someone may have taken it since
    say(f"serving on http://{args.host}:{args.port} (Ctrl-C to stop)")
    launch(app, host=args.host, port=args.port, block=True)
    return 0


def check_port(host: str, number: int) -> None:
    """Fail before "serving on …" when the address cannot be bound (in use, no such interface)."""
    import socket

    if number == 0:
        return  # any free port
    try:
        infos = socket.getaddrinfo(host, number, type=socket.SOCK_STREAM)
    except socket.gaierror as error:
        raise UsageError(f"--host {host}: not an address of this machine ({error.strerror})") from None
    family, kind, proto, _, address = infos[0]
    with socket.socket(family, kind, proto) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as the server will: TIME_WAIT is no conflict
        try:
            probe.bind(address)
        except OSError as error:
            raise OSError(f"cannot serve on {host}:{number}: {error.strerror or error} "
                          "(another server there? pick another --port)") from None
