"""One Python WebSocket library as an echo server. Prints `listening PORT NAME VERSION`, then one JSON line per
connection once it is closed: {"protocol", "close": [code, reason] as the peer received it, "keepalive_pongs"}.

Usage: py_server.py LIB CONFIG_JSON, LIB one of tornado, autobahn, wsproto. CONFIG:
  deflate: null (refused), or the library's permessage-deflate settings (see each server);
  fragment_size: autobahn sends its echoes in frames of this many octets;
  ping_interval: tornado's websocket_ping_interval, in seconds.
Every server: subprotocol chat, else superchat; `/forbidden` refused with 403; echoes every message; obeys
`cmd:ping P` (pings P; its pong is reported as the text `pong P`), `cmd:close CODE REASON` (closes),
`cmd:terminate` (drops the TCP connection, no close frame), and, with a
ping interval, `cmd:keepalive` (answers `keepalive` once a pong to one of its own pings came back).
"""
import asyncio, json, sys

CONFIG = json.loads(sys.argv[2]) if len(sys.argv) > 2 else {}


def select(offered):
    return next((p for p in ("chat", "superchat") if p in offered), None)


def report(seen):
    print(json.dumps(seen, ensure_ascii=False), flush=True)


async def tornado_server():
    import tornado, tornado.web, tornado.websocket

    class Forbidden(tornado.web.RequestHandler):
        def get(self):
            self.set_status(403)
            self.finish("forbidden\n")

    class Echo(tornado.websocket.WebSocketHandler):
        def open(self):
            self.keepalive_pongs = 0
            self.keepalive_waiting = False

        def select_subprotocol(self, subprotocols):
            self.chosen = select(subprotocols)
            return self.chosen

        def get_compression_options(self):
            # {} enables permessage-deflate; compression_level and mem_level set its zlib (tornado has no window option).
            return CONFIG.get("deflate")

        async def on_message(self, m):
            if isinstance(m, str) and m.startswith("cmd:close "):
                _, code, reason = m.split(" ", 2)
                self.close(int(code), reason)
            elif isinstance(m, str) and m.startswith("cmd:ping "):
                self.ping(m[len("cmd:ping ") :].encode())
            elif m == "cmd:terminate":
                self.ws_connection._abort()
            elif m == "cmd:keepalive":
                if self.keepalive_pongs:
                    await self.write_message("keepalive")
                else:
                    self.keepalive_waiting = True
            else:
                await self.write_message(m, binary=isinstance(m, bytes))

        def on_pong(self, data):
            if data:
                self.write_message("pong " + data.decode())
                return
            # Its periodic pings carry no payload.
            self.keepalive_pongs += 1
            if self.keepalive_waiting:
                self.keepalive_waiting = False
                self.write_message("keepalive")

        def on_close(self):
            report(
                {
                    "protocol": getattr(self, "chosen", None),
                    "close": [self.close_code, self.close_reason],
                    "keepalive_pongs": self.keepalive_pongs > 0,
                }
            )

    app = tornado.web.Application(
        [(r"/forbidden", Forbidden), (r"/.*", Echo)],
        websocket_ping_interval=CONFIG.get("ping_interval"),
        websocket_max_message_size=16 * 1024 * 1024,
    )
    server = app.listen(0, "127.0.0.1")
    port = next(iter(server._sockets.values())).getsockname()[1]
    return port, f"tornado {tornado.version}"


async def autobahn_server():
    import autobahn
    from autobahn.asyncio.websocket import WebSocketServerProtocol, WebSocketServerFactory
    from autobahn.websocket.types import ConnectionDeny
    from autobahn.websocket.compress import PerMessageDeflateOffer, PerMessageDeflateOfferAccept

    d = CONFIG.get("deflate")
    fragment_size = CONFIG.get("fragment_size")

    class Echo(WebSocketServerProtocol):
        def onConnect(self, request):
            if request.path == "/forbidden":
                raise ConnectionDeny(403, "forbidden")
            self.chosen = select(request.protocols)
            return self.chosen

        def onMessage(self, payload, isBinary):
            m = None if isBinary else payload.decode()
            if m and m.startswith("cmd:close "):
                _, code, reason = m.split(" ", 2)
                # sendClose refuses any code but 1000 and 3000-4999 (protocol.py, sendClose: "invalid close code");
                # the frame method under it sends the others RFC 6455 §7.4.1 lets an endpoint send (1001, 1008...).
                self.sendCloseFrame(code=int(code), reasonUtf8=reason.encode(), isReply=False)
            elif m and m.startswith("cmd:ping "):
                self.sendPing(m[len("cmd:ping ") :].encode())
            elif m == "cmd:terminate":
                self.transport.abort()
            else:
                self.sendMessage(payload, isBinary, fragmentSize=fragment_size)

        def onPong(self, payload):
            self.sendMessage(b"pong " + payload, False)

        def onClose(self, wasClean, code, reason):
            report(
                {
                    "protocol": getattr(self, "chosen", None),
                    "close": [self.remoteCloseCode, self.remoteCloseReason],
                    "clean": wasClean,
                    "extensions": [str(e) for e in self.websocket_extensions_in_use or []],
                }
            )

    def accept(offers):
        for offer in offers:
            if isinstance(offer, PerMessageDeflateOffer):
                # request_*: what it asks of the client; no_context_takeover/window_bits: its own compressor.
                return PerMessageDeflateOfferAccept(
                    offer,
                    request_no_context_takeover=d.get("request_no_context_takeover", False),
                    request_max_window_bits=d.get("request_max_window_bits", 0),
                    no_context_takeover=d.get("no_context_takeover"),
                    window_bits=d.get("window_bits"),
                    mem_level=d.get("mem_level"),
                )
        return None

    factory = WebSocketServerFactory()
    factory.protocol = Echo
    factory.setProtocolOptions(
        perMessageCompressionAccept=accept if d is not None else lambda offers: None,
        maxMessagePayloadSize=0,
        maxFramePayloadSize=0,
        # Its default answers every close with 1000 and no reason (protocol.py, onCloseFrame); echo as the others do.
        echoCloseCodeReason=True,
    )
    server = await asyncio.get_running_loop().create_server(factory, "127.0.0.1", 0)
    return server.sockets[0].getsockname()[1], f"autobahn {autobahn.__version__}"


async def wsproto_server():
    """wsproto, sans-I/O, driven over asyncio's plain streams."""
    import wsproto
    from wsproto import WSConnection, ConnectionType
    from wsproto.connection import ConnectionState
    from wsproto.events import (
        Request,
        AcceptConnection,
        RejectConnection,
        RejectData,
        TextMessage,
        BytesMessage,
        Ping,
        Pong,
        CloseConnection,
    )
    from wsproto.extensions import PerMessageDeflate

    d = CONFIG.get("deflate")

    async def handle(reader, writer):
        conn = WSConnection(ConnectionType.SERVER)
        parts = []
        seen = {}

        def out(event):
            writer.write(conn.send(event))

        while conn.state not in (ConnectionState.CLOSED,):
            data = await reader.read(65536)
            conn.receive_data(data or None)
            for e in conn.events():
                if isinstance(e, Request):
                    if e.target == "/forbidden":
                        out(RejectConnection(status_code=403, headers=[(b"content-type", b"text/plain")], has_body=True))
                        out(RejectData(data=b"forbidden\n"))
                        await writer.drain()
                        writer.close()
                        return
                    seen["protocol"] = select(e.subprotocols)
                    exts = [PerMessageDeflate(**d)] if d is not None else []
                    out(AcceptConnection(subprotocol=seen["protocol"], extensions=exts))
                elif isinstance(e, (TextMessage, BytesMessage)):
                    parts.append(e.data)
                    if not e.message_finished:
                        continue
                    text = isinstance(e, TextMessage)
                    m = ("" if text else b"").join(parts)
                    parts = []
                    if text and m.startswith("cmd:close "):
                        _, code, reason = m.split(" ", 2)
                        out(CloseConnection(code=int(code), reason=reason))
                    elif text and m.startswith("cmd:ping "):
                        out(Ping(payload=m[len("cmd:ping ") :].encode()))
                    elif text and m == "cmd:terminate":
                        writer.transport.abort()
                        report(seen)
                        return
                    else:
                        out(TextMessage(data=m) if text else BytesMessage(data=m))
                elif isinstance(e, Ping):
                    out(e.response())
                elif isinstance(e, Pong):
                    out(TextMessage(data="pong " + bytes(e.payload).decode()))
                elif isinstance(e, CloseConnection):
                    seen["close"] = [e.code, e.reason]
                    if conn.state == ConnectionState.REMOTE_CLOSING:
                        out(e.response())
            await writer.drain()
            if not data or conn.state == ConnectionState.CLOSED:
                break
        writer.close()
        report(seen)

    server = await asyncio.start_server(handle, "127.0.0.1", 0)
    return server.sockets[0].getsockname()[1], f"wsproto {wsproto.__version__}"


async def main():
    port, name = await {"tornado": tornado_server, "autobahn": autobahn_server, "wsproto": wsproto_server}[sys.argv[1]]()
    print(f"listening {port} {name}", flush=True)
    await asyncio.Future()


asyncio.run(main())
