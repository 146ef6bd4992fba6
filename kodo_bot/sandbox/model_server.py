"""A scripted Anthropic Messages API on 127.0.0.1 that plays a ``Scenario``, one step per request.

Tests, the offline demo and users' rehearsals point the real Claude Code CLI (``ANTHROPIC_BASE_URL``) and the
real ``anthropic`` client at it. Each request is routed to a role by the ``kodo-role: <role>`` line that
kodo-bot puts in every system prompt, and gets that role's next step. A request identical to one already
answered (a client retry) is answered again with the same message instead of consuming a step, so retries
and resumed runs stay deterministic. Whatever the scenario did not foresee is recorded and answered with a
loud HTTP 500, so a test fails where the script and the code disagree; ``assert_complete()`` then says what.

It deliberately does not imitate a model: it never looks at what the client asked beyond the role marker,
it does not check tool inputs against the tool schemas, and its token counts are estimates (about four
characters of JSON per token), good for budgets and benchmarks, not for billing.

Run standalone for a rehearsal::

    python -m kodo_bot.sandbox.model_server --scenario rehearsal.yaml [--port N] [--log requests.jsonl]
"""

from __future__ import annotations

import argparse
import json
import signal
import socket
import sys
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, Literal
from urllib.parse import urlsplit

from pydantic import BaseModel, ConfigDict

from kodo_bot.errors import ConfigError
from kodo_bot.sandbox import openai_wire
from kodo_bot.sandbox.gemini_wire import as_gemini_response, as_messages_body, gemini_call, gemini_error, sse_chunk
from kodo_bot.sandbox.scenario import (
    Scenario,
    Step,
    build_message,
    error_body,
    estimate_tokens,
    find_role,
    last_user_snippet,
    request_key,
    side_reply,
    sse_frames,
    tool_names,
)

__all__ = ["RequestRecord", "ScriptedModelServer", "UnexpectedRequest", "main"]

Outcome = Literal["step", "replay", "error", "malformed", "unexpected", "side", "count_tokens"]


class RequestRecord(BaseModel):
    """One request as the server saw and answered it (one line of the ``--log`` JSONL)."""

    model_config = ConfigDict(frozen=True)

    time: float
    path: str
    role: str | None
    outcome: Outcome
    status: int
    stream: bool = False
    model: str | None = None
    messages: int = 0
    tools: tuple[str, ...] = ()
    #: index into the role's expanded step queue that produced the answer (None: no step involved)
    step: int | None = None
    replay: bool = False
    #: the usage reported back: what a benchmark counts as "input tokens per request"
    input_tokens: int = 0
    output_tokens: int = 0


class UnexpectedRequest(BaseModel):
    model_config = ConfigDict(frozen=True)

    path: str
    role: str | None
    reason: str
    #: the start of the last user message, so a failing test shows which turn the script missed
    snippet: str = ""


@dataclass
class _Reply:
    """What to send: a message (rendered as JSON or SSE per request) or an error body."""

    status: int = 200
    message: dict[str, Any] | None = None
    body: dict[str, Any] | None = None
    headers: dict[str, str] = field(default_factory=dict)
    delay_s: float = 0.0
    #: sent verbatim instead of JSON (a ``malformed`` step)
    raw: bytes | None = None
    #: a Gemini-only candidate to answer with instead of the message's content (a ``gemini`` step)
    candidate: str | None = None


# --- the server ---------------------------------------------------------------------------------------


class ScriptedModelServer:
    """Serves ``scenario`` on ``http://127.0.0.1:<port>`` until ``stop()``; a context manager too.

    ``replay=False`` turns off answering identical requests from the cache (each then consumes a step).
    ``log_path`` appends every ``RequestRecord`` as a JSON line as it happens, so a killed run keeps its log.
    """

    def __init__(
        self,
        scenario: Scenario | dict[str, Any],
        *,
        port: int = 0,
        replay: bool = True,
        log_path: Path | str | None = None,
        answer_side_requests: bool = True,
    ) -> None:
        self.scenario = scenario if isinstance(scenario, Scenario) else Scenario.from_dict(scenario)
        self._port = port
        self._replay = replay
        self._answer_side_requests = answer_side_requests
        self._log_path = Path(log_path) if log_path else None
        self._lock = threading.Lock()
        self._queues = {role: self.scenario.queue(role) for role in self.scenario.roles}
        self._next = dict.fromkeys(self._queues, 0)
        self._cache: dict[str, tuple[dict[str, Any], int]] = {}
        self._stopping = threading.Event()
        self._httpd: _HTTPServer | None = None
        self._thread: threading.Thread | None = None
        self.requests: list[RequestRecord] = []
        #: the parsed JSON body of each request, index-aligned with ``requests``
        self.request_bodies: list[dict[str, Any]] = []
        self.unexpected: list[UnexpectedRequest] = []
        #: requests without a kodo marker, answered with ``SIDE_REPLY`` (the CLI's own side calls)
        self.side_requests: list[RequestRecord] = []

    # lifecycle

    def start(self) -> ScriptedModelServer:
        if self._httpd is not None:
            return self
        self._httpd = _HTTPServer(("127.0.0.1", self._port), _Handler, self)
        self._thread = threading.Thread(
            target=self._httpd.serve_forever, kwargs={"poll_interval": 0.05}, name="scripted-model-server"
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        """Stop serving, cut open connections (and any delayed answer) and join every thread."""
        httpd, self._httpd = self._httpd, None
        if httpd is None:
            return
        self._stopping.set()
        httpd.shutdown()
        httpd.server_close()
        httpd.close_connections()
        if self._thread is not None:
            self._thread.join()
        httpd.join_handlers(timeout=5)

    def __enter__(self) -> ScriptedModelServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    @property
    def url(self) -> str:
        if self._httpd is None:
            raise RuntimeError("the scripted model server is not running: call start() first")
        return f"http://127.0.0.1:{self._httpd.server_address[1]}"

    # what tests ask

    def served(self, role: str) -> int:
        """Steps of ``role`` consumed so far (error steps included, replays not): served + remaining = all."""
        with self._lock:
            return self._next.get(role, 0)

    def remaining(self) -> dict[str, int]:
        with self._lock:
            return {role: len(queue) - self._next[role] for role, queue in self._queues.items()}

    def assert_complete(self) -> None:
        """Raise AssertionError listing unconsumed steps and unexpected requests, if there are any."""
        with self._lock:
            leftovers = {r: q[self._next[r] :] for r, q in self._queues.items() if self._next[r] < len(q)}
            unexpected = list(self.unexpected)
        if not leftovers and not unexpected:
            return
        lines = ["the scripted model server's scenario did not play out as written:"]
        for role, steps in leftovers.items():
            first = len(self._queues[role]) - len(steps)
            lines.append(f"  {role}: {len(steps)} step(s) never requested, from step {first}: {steps[0].summary()}")
        lines += [
            f"  unexpected {u.path} (role {u.role!r}): {u.reason}; last user message {u.snippet!r}" for u in unexpected
        ]
        raise AssertionError("\n".join(lines))

    # answering (called from handler threads; each decides under the lock, the handler sends after)

    def _answer_messages(self, path: str, body: dict[str, Any], *, gemini: bool = False) -> _Reply:
        record = _fields(path, body)
        role = record["role"]
        with self._lock:
            if role is None:
                return self._side(body, record)
            key = request_key(role, body)
            if self._replay and key in self._cache:
                message, index = self._cache[key]
                message = {**message, "model": record["model"]}  # echo whatever name the retry used
                self._record(body, record, "replay", usage=message["usage"], step=index, replay=True)
                return _Reply(message=message)
            queue = self._queues.get(role)
            if queue is None:
                return self._unexpected(body, record, f"the scenario has no role {role!r}")
            if self._next[role] >= len(queue):
                reason = f"the scenario ran out of steps for role {role!r} (all {len(queue)} served)"
                return self._unexpected(body, record, reason)
            index = self._next[role]
            self._next[role] += 1
            step, branch = queue[index], queue[index].branch
            return self._play(branch.choose(body) if branch else step, index, key, body, record, gemini=gemini)

    def _play(
        self, step: Step, index: int, key: str, body: dict[str, Any], record: dict[str, Any], *, gemini: bool
    ) -> _Reply:
        if step.gemini is not None:  # like an error: consumed, never cached, so a retry gets the next step
            if not gemini:
                return self._unexpected(body, record, f"step {index} answers only the Gemini API")
            self._record(body, record, "step", step=index)
            empty = build_message(Step(text=""), model=record["model"], input_tokens=estimate_tokens(body))
            return _Reply(message=empty, candidate=step.gemini, delay_s=step.delay_s)
        err = step.error
        if err is not None:
            # Consumed but never cached: the client's retry of this very request gets the next step,
            # which is how a scenario says "fail once, then succeed".
            headers = {"retry-after": f"{err.retry_after:g}"} if err.retry_after is not None else {}
            self._record(body, record, "error", status=err.status, step=index)
            return _Reply(
                status=err.status, body=error_body(err.type, err.message), headers=headers, delay_s=step.delay_s
            )
        if step.malformed is not None:  # like an error: consumed, never cached, so a retry gets the next step
            self._record(body, record, "malformed", step=index)
            return _Reply(raw=step.malformed.encode(), delay_s=step.delay_s)
        message = build_message(
            step, model=record["model"], input_tokens=estimate_tokens(body), offered=record["tools"]
        )
        self._cache[key] = (message, index)
        self._record(body, record, "step", usage=message["usage"], step=index)
        return _Reply(message=message, delay_s=step.delay_s)

    def _side(self, body: dict[str, Any], record: dict[str, Any]) -> _Reply:
        if not self._answer_side_requests:
            reason = "the request carries no 'kodo-role:' marker in its system prompt"
            return self._unexpected(body, record, reason)
        message = build_message(Step(text=side_reply(body)), model=record["model"], input_tokens=estimate_tokens(body))
        self.side_requests.append(self._record(body, record, "side", usage=message["usage"]))
        return _Reply(message=message)

    def _keep_as_sent(self, read: dict[str, Any], sent: dict[str, Any]) -> None:
        """``request_bodies`` holds what the client sent (a Gemini request as Gemini spells it), not the
        Messages-shaped body it was read into."""
        with self._lock:
            for i in range(len(self.request_bodies) - 1, -1, -1):
                if self.request_bodies[i] is read:
                    self.request_bodies[i] = sent
                    return

    def _answer_count_tokens(self, path: str, body: dict[str, Any]) -> _Reply:
        tokens = estimate_tokens(body)
        with self._lock:
            self._record(body, _fields(path, body), "count_tokens", usage={"input_tokens": tokens})
        return _Reply(body={"input_tokens": tokens})

    def _answer_unknown(self, path: str, body: dict[str, Any], status: int, reason: str) -> _Reply:
        with self._lock:
            return self._unexpected(body, {"path": path, "role": None}, reason, status=status)

    def _unexpected(self, body: dict[str, Any], record: dict[str, Any], reason: str, status: int = 500) -> _Reply:
        # caller holds the lock
        self.unexpected.append(
            UnexpectedRequest(path=record["path"], role=record["role"], reason=reason, snippet=last_user_snippet(body))
        )
        self._record(body, record, "unexpected", status=status)
        kind = {404: "not_found_error", 400: "invalid_request_error"}.get(status, "api_error")
        return _Reply(status=status, body=error_body(kind, f"scripted model server: {reason}"))

    def _record(
        self,
        body: dict[str, Any],
        record: dict[str, Any],
        outcome: Outcome,
        *,
        status: int = 200,
        usage: dict[str, Any] | None = None,
        **extra: Any,
    ) -> RequestRecord:
        # caller holds the lock, which also keeps the log file's lines whole
        tokens = {k: v for k, v in (usage or {}).items() if k in ("input_tokens", "output_tokens")}
        rec = RequestRecord(time=time.time(), outcome=outcome, status=status, **record, **extra, **tokens)
        self.requests.append(rec)
        self.request_bodies.append(body)
        if self._log_path is not None:
            with self._log_path.open("a", encoding="utf-8") as log:
                log.write(rec.model_dump_json() + "\n")
        return rec


def _fields(path: str, body: dict[str, Any]) -> dict[str, Any]:
    """What a ``RequestRecord`` keeps of a request."""
    return {
        "path": path,
        "role": find_role(body),
        "stream": bool(body.get("stream")),
        "model": str(body.get("model") or "scripted-model"),
        "messages": len(body.get("messages") or []),
        "tools": tool_names(body),
    }


class _HTTPServer(ThreadingHTTPServer):
    """Tracks its connections and handler threads so ``stop()`` can end them and leave nothing behind."""

    daemon_threads = True

    def __init__(self, address: tuple[str, int], handler: type, owner: ScriptedModelServer) -> None:
        super().__init__(address, handler)
        self.owner = owner
        self._live: dict[threading.Thread, socket.socket] = {}
        self._live_lock = threading.Lock()

    def process_request(self, request: Any, client_address: Any) -> None:
        thread = threading.Thread(target=self._serve_one, args=(request, client_address), daemon=True)
        with self._live_lock:
            self._live[thread] = request
        thread.start()

    def _serve_one(self, request: Any, client_address: Any) -> None:
        try:
            self.process_request_thread(request, client_address)
        finally:
            with self._live_lock:
                self._live.pop(threading.current_thread(), None)

    def close_connections(self) -> None:
        # Keep-alive connections otherwise hold their handler thread in a blocking read forever.
        with self._live_lock:
            sockets = list(self._live.values())
        for sock in sockets:
            try:
                sock.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass

    def join_handlers(self, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        with self._live_lock:
            threads = list(self._live)
        for thread in threads:
            thread.join(max(0.0, deadline - time.monotonic()))


class _Handler(BaseHTTPRequestHandler):
    # HTTP/1.1 with keep-alive, as the real API: the CLI and httpx reuse connections.
    protocol_version = "HTTP/1.1"
    server: _HTTPServer

    def do_POST(self) -> None:
        owner = self.server.owner
        path = urlsplit(self.path).path.rstrip("/")
        try:
            length = int(self.headers.get("content-length") or 0)
            body = json.loads(self.rfile.read(length) or b"{}")
            if not isinstance(body, dict):
                raise ValueError("the request body must be a JSON object")
        except ValueError as exc:
            self._send(owner._answer_unknown(self.path, {}, 400, f"unreadable request body: {exc}"), False)
            return
        if path == "/v1/messages":
            reply = owner._answer_messages(self.path, body)
        elif path == "/v1/messages/count_tokens":
            reply = owner._answer_count_tokens(self.path, body)
        elif (call := gemini_call(path)) is not None:
            model, stream = call
            read = as_messages_body(body, model)
            reply = owner._answer_messages(self.path, read, gemini=True)
            owner._keep_as_sent(read, body)
            self._send_gemini(reply, stream)
            return
        elif openai_wire.responses_call(path):
            read = openai_wire.as_messages_body(body)
            reply = owner._answer_messages(self.path, read)
            owner._keep_as_sent(read, body)
            self._send(_as_responses(reply, body.get("stream") is not False), False)
            return
        else:
            reply = owner._answer_unknown(self.path, body, 404, f"no such endpoint: POST {self.path}")
        self._send(reply, bool(body.get("stream")))

    def _send_gemini(self, reply: _Reply, stream: bool) -> None:
        """The same answer in the Gemini API's words: its response or error shape, or one SSE event."""
        if reply.message is not None:
            answer = as_gemini_response(reply.message, candidate=reply.candidate)
            if stream:
                reply = _Reply(
                    raw=sse_chunk(answer), delay_s=reply.delay_s, headers={"Content-Type": "text/event-stream"}
                )
            else:
                reply = _Reply(body=answer, delay_s=reply.delay_s)
        elif reply.raw is None:
            said = ((reply.body or {}).get("error") or {}).get("message", "scripted error")
            reply = _Reply(status=reply.status, body=gemini_error(reply.status, said), headers=reply.headers,
                           delay_s=reply.delay_s)  # fmt: skip
        self._send(reply, False)

    def do_GET(self) -> None:
        reply = self.server.owner._answer_unknown(self.path, {}, 404, f"no such endpoint: GET {self.path}")
        self._send(reply, False)

    def _send(self, reply: _Reply, stream: bool) -> None:
        if reply.delay_s and self.server.owner._stopping.wait(reply.delay_s):
            self.close_connection = True  # stopping: drop the delayed answer
            return
        try:
            if reply.message is not None and stream:
                self._send_stream(reply.message)
            else:
                payload = reply.message if reply.message is not None else reply.body
                data = reply.raw if reply.raw is not None else json.dumps(payload, ensure_ascii=False).encode()
                self.send_response(reply.status)
                if "Content-Type" not in reply.headers:
                    self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                for name, value in reply.headers.items():
                    self.send_header(name, value)
                self.end_headers()
                self.wfile.write(data)
        except (BrokenPipeError, ConnectionResetError):
            self.close_connection = True  # the client gave up; nothing to tell it

    def _send_stream(self, message: dict[str, Any]) -> None:
        self.send_response(200)
        self.send_header("Content-Type", "text/event-stream; charset=utf-8")
        self.send_header("Cache-Control", "no-cache")
        self.send_header("Transfer-Encoding", "chunked")
        self.end_headers()
        for frame in sse_frames(message):
            self.wfile.write(b"%x\r\n%s\r\n" % (len(frame), frame))
            self.wfile.flush()
        self.wfile.write(b"0\r\n\r\n")

    def log_message(self, format: str, *args: Any) -> None:
        pass  # the request log is ``requests`` / --log; stderr noise would bury test output


def _as_responses(reply: _Reply, stream: bool) -> _Reply:
    """The same answer in the OpenAI Responses API's words (``openai_wire``): its stream, or its error."""
    if reply.message is not None:
        response = openai_wire.as_response(reply.message)
        if not stream:
            return _Reply(body=response, delay_s=reply.delay_s)
        raw = openai_wire.sse_events(response)
        return _Reply(raw=raw, delay_s=reply.delay_s, headers={"Content-Type": "text/event-stream"})
    if reply.raw is None:
        said = ((reply.body or {}).get("error") or {}).get("message", "scripted error")
        body = openai_wire.openai_error(reply.status, said)
        return _Reply(status=reply.status, body=body, headers=reply.headers, delay_s=reply.delay_s)
    return reply


# --- standalone ---------------------------------------------------------------------------------------


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m kodo_bot.sandbox.model_server",
        description="Serve a kodo-bot scenario as the Anthropic Messages API.",
    )
    parser.add_argument("--scenario", required=True, type=Path, help="scenario YAML file")
    parser.add_argument("--port", type=int, default=0, help="port on 127.0.0.1 (default: any free one)")
    parser.add_argument("--log", type=Path, help="append each request as a JSON line to this file")
    parser.add_argument(
        "--strict",
        action="store_true",
        help="treat requests without a kodo-role marker as unexpected (HTTP 500) instead of "
        "answering them as side requests",
    )
    args = parser.parse_args(argv)
    try:
        scenario = Scenario.load(args.scenario)
    except ConfigError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    done = threading.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_: done.set())
    with ScriptedModelServer(
        scenario, port=args.port, log_path=args.log, answer_side_requests=not args.strict
    ) as server:
        print(f"listening on {server.url}", flush=True)
        while not done.wait(0.5):  # a timed wait keeps the main thread responsive to signals
            pass
    left = {role: n for role, n in server.remaining().items() if n}
    print(
        f"stopped: {len(server.requests)} request(s), steps left {left or 'none'}, "
        f"{len(server.unexpected)} unexpected, {len(server.side_requests)} side request(s)",
        file=sys.stderr,
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
