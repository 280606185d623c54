"""One Python WebSocket library as the client: the interop exchange against URL; prints one JSON line of what it saw.

Usage: py_client.py LIB URL CONFIG_JSON, LIB one of tornado, autobahn, wsproto, websocket-client. CONFIG:
  deflate: null (not offered) or a list of offers {server_no_context_takeover, client_no_context_takeover,
           server_max_window_bits, client_max_window_bits} (a library takes what it can say of them);
  commands: whether the server obeys `cmd:ping P` (pings P, then reports the pong as `pong P`) and
            `cmd:close CODE REASON` (closes).
"""
import asyncio, json, re, socket, struct, sys
from urllib.parse import urlparse

TEXT = "héllo wörld ✓ 𝄞"


def pattern(length, seed):
    return bytes(((i * 131 + seed + (i >> 9)) & 0xFF) for i in range(length))


MESSAGES = [
    TEXT,
    pattern(100, 1),
    "",
    b"",
    pattern(64 * 1024, 2),
    "ü" * (32 * 1024),
    pattern(1024 * 1024, 3),
]
# Fragmented sends: [message, fragment size in octets]; the text's fragments split its UTF-8 sequences.
FRAGMENTED = [[TEXT * 20, 7], [pattern(70_000, 4), 16_384]]


def chunks(data, size):
    raw = data.encode() if isinstance(data, str) else data
    return [raw[i : i + size] for i in range(0, len(raw), size)]


class Tornado:
    name = "tornado"

    async def connect(self, url, protocols, deflate):
        import tornado, tornado.websocket

        self.version = tornado.version
        self.pongs = asyncio.Queue()
        # Tornado's client offers only `permessage-deflate; client_max_window_bits`; compression_options sets its zlib.
        options = None if deflate is None else {"compression_level": 6, "mem_level": 5}
        self.c = await tornado.websocket.websocket_connect(
            url, subprotocols=protocols, compression_options=options, max_message_size=16 * 1024 * 1024
        )
        self.c.on_pong = lambda data: self.pongs.put_nowait(bytes(data))
        return self.c.selected_subprotocol, self.c.headers.get("Sec-WebSocket-Extensions")

    async def send(self, data):
        await self.c.write_message(data, binary=isinstance(data, bytes))

    send_fragments = None  # write_message sends a message as one frame: tornado has no fragmented send.

    async def recv(self):
        m = await self.c.read_message()
        if m is None:
            return ("close", [self.c.close_code, self.c.close_reason])
        return ("binary" if isinstance(m, bytes) else "text", m)

    async def ping(self, payload):
        self.c.ping(payload)
        return await self.pongs.get()

    async def close(self, code, reason):
        self.c.close(code, reason)
        while (await self.recv())[0] != "close":
            pass
        return [self.c.close_code, self.c.close_reason]


class Autobahn:
    name = "autobahn"

    async def connect(self, url, protocols, deflate):
        import autobahn
        from autobahn.asyncio.websocket import WebSocketClientProtocol, WebSocketClientFactory
        from autobahn.websocket.compress import (
            PerMessageDeflateOffer,
            PerMessageDeflateResponse,
            PerMessageDeflateResponseAccept,
        )

        self.version = autobahn.__version__
        loop = asyncio.get_running_loop()
        self.messages = asyncio.Queue()
        self.pongs = asyncio.Queue()
        opened = loop.create_future()
        self.closed = loop.create_future()
        outer = self

        class Client(WebSocketClientProtocol):
            def onConnect(self, response):
                outer.response = response

            def onOpen(self):
                opened.set_result(self)

            def onMessage(self, payload, isBinary):
                outer.messages.put_nowait(("binary", payload) if isBinary else ("text", payload.decode()))

            def onPong(self, payload):
                outer.pongs.put_nowait(payload)

            def onClose(self, wasClean, code, reason):
                if not opened.done():
                    opened.set_exception(Exception(f"closed before open: {code} {reason}"))
                if not outer.closed.done():
                    outer.closed.set_result([wasClean, self.remoteCloseCode, self.remoteCloseReason])
                outer.messages.put_nowait(("close", None))

        factory = WebSocketClientFactory(url, protocols=protocols)
        factory.protocol = Client
        offers = [
            # Autobahn's offer says server_no_context_takeover (request_no_context_takeover), server_max_window_bits
            # (request_max_window_bits), and whether the server may set ours (accept_*); it cannot ask
            # client_no_context_takeover or a client_max_window_bits value of its own.
            PerMessageDeflateOffer(
                accept_no_context_takeover=o.get("accept_no_context_takeover", True),
                accept_max_window_bits=o.get("accept_max_window_bits", True),
                request_no_context_takeover=o.get("server_no_context_takeover", False),
                request_max_window_bits=o.get("server_max_window_bits", 0),
            )
            for o in deflate or []
        ]
        factory.setProtocolOptions(
            perMessageCompressionOffers=offers,
            perMessageCompressionAccept=lambda r: PerMessageDeflateResponseAccept(r)
            if isinstance(r, PerMessageDeflateResponse)
            else None,
            maxMessagePayloadSize=0,
            maxFramePayloadSize=0,
            autoFragmentSize=0,
        )
        u = urlparse(url)
        await loop.create_connection(factory, u.hostname, u.port)
        self.p = await opened
        return self.p.websocket_protocol_in_use, self.response.headers.get("sec-websocket-extensions")

    async def send(self, data):
        self.p.sendMessage(data if isinstance(data, bytes) else data.encode(), isBinary=isinstance(data, bytes))

    async def send_fragments(self, data, size):
        self.p.sendMessage(
            data if isinstance(data, bytes) else data.encode(), isBinary=isinstance(data, bytes), fragmentSize=size
        )

    async def recv(self):
        kind, data = await self.messages.get()
        if kind == "close":
            _, code, reason = await self.closed
            return ("close", [code, reason])
        return (kind, data)

    async def ping(self, payload):
        self.p.sendPing(payload)
        return await self.pongs.get()

    async def close(self, code, reason):
        self.p.sendClose(code, reason)
        clean, code, reason = await self.closed
        return [code, reason] if clean else ["unclean", code, reason]


class Wsproto:
    """wsproto, sans-I/O, driven over a plain blocking socket."""

    name = "wsproto"

    async def connect(self, url, protocols, deflate):
        import wsproto
        from wsproto import WSConnection, ConnectionType
        from wsproto.events import Request, AcceptConnection, RejectConnection
        from wsproto.extensions import PerMessageDeflate

        self.version = wsproto.__version__
        u = urlparse(url)
        self.sock = socket.create_connection((u.hostname, u.port))
        self.conn = WSConnection(ConnectionType.CLIENT)
        # wsproto offers one permessage-deflate; the first offer's parameters are taken.
        exts = []
        if deflate:
            o = deflate[0]
            exts = [
                PerMessageDeflate(
                    client_no_context_takeover=o.get("client_no_context_takeover", False),
                    client_max_window_bits=o.get("client_max_window_bits"),
                    server_no_context_takeover=o.get("server_no_context_takeover", False),
                    server_max_window_bits=o.get("server_max_window_bits"),
                )
            ]
        self.sock.sendall(
            self.conn.send(Request(host=u.netloc, target=u.path or "/", subprotocols=protocols, extensions=exts))
        )
        self.pending = []
        self.parts = []
        self.pongs = []
        raw = b""
        while True:
            data = self.sock.recv(65536)
            raw += data
            self.conn.receive_data(data or None)
            for e in self.conn.events():
                if isinstance(e, AcceptConnection):
                    head = raw.split(b"\r\n\r\n", 1)[0].decode("latin-1")
                    m = re.search(r"(?im)^sec-websocket-extensions:\s*(.*?)\s*$", head)
                    return e.subprotocol, m.group(1) if m else None
                if isinstance(e, RejectConnection):
                    raise Exception(f"refused: {e.status_code}")
                self.pending.append(e)

    def _out(self, event):
        self.sock.sendall(self.conn.send(event))

    async def send(self, data):
        from wsproto.events import TextMessage, BytesMessage

        self._out(BytesMessage(data=data) if isinstance(data, bytes) else TextMessage(data=data))

    async def send_fragments(self, data, size):
        from wsproto.events import TextMessage, BytesMessage

        # wsproto's TextMessage takes a str: fragments of characters (their octets cut where a character ends).
        parts = [data[i : i + size] for i in range(0, len(data), size)]
        for i, p in enumerate(parts):
            last = i == len(parts) - 1
            self._out(BytesMessage(data=p, message_finished=last) if isinstance(data, bytes) else TextMessage(data=p, message_finished=last))

    def _event(self):
        while not self.pending:
            data = self.sock.recv(65536)
            self.conn.receive_data(data or None)
            self.pending.extend(self.conn.events())
        return self.pending.pop(0)

    async def recv(self):
        from wsproto.events import TextMessage, BytesMessage, Ping, Pong, CloseConnection

        while True:
            e = self._event()
            if isinstance(e, Ping):
                self._out(e.response())
            elif isinstance(e, Pong):
                self.pongs.append(bytes(e.payload))
            elif isinstance(e, CloseConnection):
                from wsproto.connection import ConnectionState

                if self.conn.state == ConnectionState.REMOTE_CLOSING:
                    self._out(e.response())
                return ("close", [e.code, e.reason])
            elif isinstance(e, (TextMessage, BytesMessage)):
                self.parts.append(e.data)
                if e.message_finished:
                    data = ("" if isinstance(e, TextMessage) else b"").join(self.parts)
                    self.parts = []
                    return ("text" if isinstance(e, TextMessage) else "binary", data)

    async def ping(self, payload):
        from wsproto.events import Ping, Pong

        self._out(Ping(payload=payload))
        while not self.pongs:
            e = self._event()
            if isinstance(e, Pong):
                return bytes(e.payload)
            self.pending.insert(0, e)
            raise Exception(f"a {type(e).__name__} came before the pong")
        return self.pongs.pop(0)

    async def close(self, code, reason):
        from wsproto.events import CloseConnection

        self._out(CloseConnection(code=code, reason=reason))
        while True:
            kind, data = await self.recv()
            if kind == "close":
                self.sock.close()
                return data


class WebsocketClient:
    """websocket-client (the `websocket` module), synchronous."""

    name = "websocket-client"

    async def connect(self, url, protocols, deflate):
        import websocket

        self.version = websocket.__version__
        self.websocket = websocket
        # websocket-client has no permessage-deflate: it never offers it (its README: "permessage-deflate ... not supported").
        self.c = websocket.create_connection(url, subprotocols=protocols, skip_utf8_validation=False)
        return self.c.getsubprotocol(), self.c.getheaders().get("sec-websocket-extensions")

    async def send(self, data):
        ABNF = self.websocket.ABNF
        self.c.send(data, ABNF.OPCODE_BINARY if isinstance(data, bytes) else ABNF.OPCODE_TEXT)

    async def send_fragments(self, data, size):
        ABNF = self.websocket.ABNF
        parts = chunks(data, size)
        for i, p in enumerate(parts):
            op = (ABNF.OPCODE_BINARY if isinstance(data, bytes) else ABNF.OPCODE_TEXT) if i == 0 else ABNF.OPCODE_CONT
            self.c.send_frame(ABNF.create_frame(p, op, 1 if i == len(parts) - 1 else 0))

    def _close_frame(self, frame):
        code = struct.unpack("!H", frame.data[:2])[0] if len(frame.data) >= 2 else None
        return [code, frame.data[2:].decode()]

    async def recv(self):
        ABNF = self.websocket.ABNF
        while True:
            # recv_frame, not recv_data_frame: the latter answers a close with 1000 whatever the peer's code.
            f = self.c.recv_frame()
            if f.opcode == ABNF.OPCODE_PING:
                self.c.pong(f.data)
            elif f.opcode == ABNF.OPCODE_CLOSE:
                got = self._close_frame(f)
                self.c.send_close(got[0] or 1000, got[1].encode())
                self.c.shutdown()
                return ("close", got)
            elif f.opcode in (ABNF.OPCODE_TEXT, ABNF.OPCODE_BINARY, ABNF.OPCODE_CONT):
                self.c.cont_frame.validate(f)
                self.c.cont_frame.add(f)
                if self.c.cont_frame.is_fire(f):
                    op, frame = self.c.cont_frame.extract(f)
                    data = frame.data
                    return ("text", data.decode()) if op == ABNF.OPCODE_TEXT else ("binary", bytes(data))

    async def ping(self, payload):
        ABNF = self.websocket.ABNF
        self.c.ping(payload)
        f = self.c.recv_frame()
        if f.opcode != ABNF.OPCODE_PONG:
            raise Exception(f"opcode {f.opcode} came before the pong")
        return bytes(f.data)

    async def close(self, code, reason):
        ABNF = self.websocket.ABNF
        self.c.send_close(code, reason.encode())
        f = self.c.recv_frame()
        self.c.shutdown()
        if f.opcode != ABNF.OPCODE_CLOSE:
            raise Exception(f"opcode {f.opcode} came before the close")
        return self._close_frame(f)


LIBS = {c.name: c for c in (Tornado, Autobahn, Wsproto, WebsocketClient)}


async def main(lib, url, config):
    cls = LIBS[lib]
    deflate = config.get("deflate")
    c = cls()
    out = {}
    out["protocol"], out["extensions"] = await c.connect(url, ["superchat", "chat"], deflate)
    out["peer"] = f"{lib} {c.version}"
    echoes = []
    for m in MESSAGES:
        await c.send(m)
    for m in MESSAGES:
        kind, data = await c.recv()
        if kind == "close":
            # The server failed the connection: report how, and stop.
            out["echoes"], out["closed_early"] = echoes, data
            print(json.dumps(out, ensure_ascii=False), flush=True)
            return
        echoes.append(kind == ("binary" if isinstance(m, bytes) else "text") and data == m)
    out["echoes"] = echoes
    if c.send_fragments is None:
        out["fragmented"] = None
    else:
        got = []
        for m, size in FRAGMENTED:
            await c.send_fragments(m, size)
            kind, data = await c.recv()
            got.append(kind == ("binary" if isinstance(m, bytes) else "text") and data == m)
        out["fragmented"] = got
    out["pong"] = (await c.ping(b"interop")).decode()
    if config.get("commands"):
        await c.send("cmd:ping from-the-server")
        out["server_ping"] = list(await c.recv())
    out["close"] = await c.close(4000, "bye ✓")
    if config.get("commands"):
        c = cls()
        await c.connect(url, ["chat"], deflate)
        await c.send("cmd:close 4001 server bye ✓")
        out["server_close"] = list(await c.recv())
    print(json.dumps(out, ensure_ascii=False), flush=True)


asyncio.run(main(sys.argv[1], sys.argv[2], json.loads(sys.argv[3]) if len(sys.argv) > 3 else {}))
