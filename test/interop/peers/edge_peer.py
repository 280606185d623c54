"""Edge-case peer for the interoperability tests, Python `websockets` or `aiohttp`, client or server.

    edge_peer.py websockets-server|aiohttp-server CONFIG_JSON
        Prints `listening PORT NAME VERSION`, then one JSON line per connection once it ends:
        {"request_extensions", "extensions", "protocol", "messages": [[type, length, sha1]], "close_code",
        "close_reason", "error"}. Echoes every message; a text message `cmd:close CODE REASON_HEX` closes
        with that code and reason (bytes, sent as they are), `cmd:fragments N SIZE` sends one binary message
        of N fragments of SIZE bytes (websockets only).
    edge_peer.py websockets-client|aiohttp-client
        Reads runs from stdin, one line each, `URL CONFIG_JSON`; for each, in turn, connects to URL, runs
        CONFIG_JSON's "steps" and prints one JSON line of what it saw. (One process for many runs: a
        Python start-up per run cost more than most runs.)

CONFIG_JSON: {"extensions_header": a Sec-WebSocket-Extensions sent as it is (websockets client), "deflate": websockets: [offer or server options, ...]; aiohttp: {"wbits": N} (client) or {} (server);
null for none, "protocols": [...], "max_size": N,
"steps": [...]}. Steps: {"send": SIZE, "text": bool, "seed": N} (echo expected, compared),
{"close": CODE, "reason_hex": HEX},
{"command": TEXT} (sent, then the server's close awaited), {"collect": TEXT} (sent, then every message until the
server's close reported in "collected"), {"fragments": [SIZE, ...], "seed": N} (one binary
message in fragments, websockets only; fragment i made with seed N + i), {"raw": OPCODE, "hex": HEX, "compress": WBITS, "followed_by": TEXT}
(aiohttp only: one frame as given, RSV1 and deflated with a fresh compressor when WBITS, then TEXT if given; what
comes back is
reported in "raw" as [type, data], and a close ends the steps). Payloads are made by `payload(size, seed, text)`, the same function as
the test's (test/interop/edge.ts): each 600-octet block is one 300-octet pattern twice, so it repeats at
distance 300: past what a 256-octet window (server_max_window_bits=8) holds.
"""
import asyncio, hashlib, json, sys


def payload(size, seed, text):
    """Deterministic data with matches 300 octets back (more than a 256-octet window holds)."""
    out = bytearray(size)
    x = seed & 0xFFFFFFFF
    for i in range(size):
        if i % 600 == 0:
            x = (x * 1103515245 + 12345) & 0xFFFFFFFF
        v = ((x >> ((i % 300) % 24)) + i % 300) & 0xFF
        out[i] = 0x61 + v % 26 if text else v
    return bytes(out)


def digest(data):
    b = data.encode() if isinstance(data, str) else bytes(data)
    return ["text" if isinstance(data, str) else "binary", len(b), hashlib.sha1(b).hexdigest()]


def report(obj):
    print(json.dumps(obj), flush=True)


async def websockets_server(cfg):
    import websockets
    from websockets.extensions.permessage_deflate import ServerPerMessageDeflateFactory as F

    async def handler(ws, path=None):
        rec = {"request_extensions": ws.request_headers.get("Sec-WebSocket-Extensions"),
               "extensions": ws.response_headers.get("Sec-WebSocket-Extensions"),
               "protocol": ws.subprotocol, "messages": [], "error": None}
        try:
            async for m in ws:
                rec["messages"].append(digest(m))
                if isinstance(m, str) and m.startswith("cmd:close "):
                    _, code, reason = (m + " ").split(" ", 2)
                    await ws.close(int(code), bytes.fromhex(reason.strip()).decode())
                elif isinstance(m, str) and m.startswith("cmd:fragments "):
                    _, n, size = m.split(" ")
                    await ws.send([payload(int(size), i, False) for i in range(int(n))])
                else:
                    await ws.send(m)
        except Exception as e:
            rec["error"] = f"{type(e).__name__}: {e}"
        await ws.wait_closed()
        rec["close_code"], rec["close_reason"] = ws.close_code, ws.close_reason
        report(rec)

    exts = None if cfg.get("deflate") is None else [F(**o) for o in cfg["deflate"]]
    async with websockets.serve(handler, "127.0.0.1", 0, extensions=exts, compression=None,
                                subprotocols=cfg.get("protocols"), max_size=cfg.get("max_size")) as server:
        report_listening(server.sockets[0].getsockname()[1], f"websockets {websockets.__version__}")
        await asyncio.Future()


def report_listening(port, name):
    print(f"listening {port} {name}", flush=True)


async def aiohttp_server(cfg):
    import aiohttp
    from aiohttp import web

    async def handler(request):
        ws = web.WebSocketResponse(protocols=cfg.get("protocols") or (), compress=cfg.get("deflate") is not None,
                                   max_msg_size=cfg.get("max_size") or 0)
        await ws.prepare(request)
        rec = {"request_extensions": request.headers.get("Sec-WebSocket-Extensions"),
               "extensions": ws.headers.get("Sec-WebSocket-Extensions"), "protocol": ws.ws_protocol,
               "messages": [], "error": None}
        async for msg in ws:
            if msg.type == aiohttp.WSMsgType.TEXT:
                rec["messages"].append(digest(msg.data))
                if msg.data.startswith("cmd:close "):
                    _, code, reason = (msg.data + " ").split(" ", 2)
                    await ws.close(code=int(code), message=bytes.fromhex(reason.strip()))
                else:
                    await ws.send_str(msg.data)
            elif msg.type == aiohttp.WSMsgType.BINARY:
                rec["messages"].append(digest(msg.data))
                await ws.send_bytes(msg.data)
            elif msg.type == aiohttp.WSMsgType.ERROR:
                rec["error"] = f"{type(msg.data).__name__}: {msg.data}"
        rec["close_code"] = ws.close_code
        rec["close_reason"] = None
        report(rec)
        return ws

    app = web.Application()
    app.add_routes([web.get("/", handler)])
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    report_listening(site._server.sockets[0].getsockname()[1], f"aiohttp {aiohttp.__version__}")
    await asyncio.Future()


async def websockets_client(url, cfg):
    import websockets
    from websockets.extensions.permessage_deflate import ClientPerMessageDeflateFactory as F

    out = {"peer": f"websockets {websockets.__version__}", "echoes": [], "error": None}
    exts = None if cfg.get("deflate") is None else [F(**o) for o in cfg["deflate"]]
    try:
        # "extensions_header": a Sec-WebSocket-Extensions of our own, which websockets sends as it is.
        extra = {"Sec-WebSocket-Extensions": cfg["extensions_header"]} if "extensions_header" in cfg else None
        async with websockets.connect(url, extensions=exts, compression=None, subprotocols=cfg.get("protocols"),
                                      max_size=cfg.get("max_size"), extra_headers=extra) as ws:
            out["extensions"] = ws.response_headers.get("Sec-WebSocket-Extensions")
            out["protocol"] = ws.subprotocol
            for step in cfg["steps"]:
                if "send" in step:
                    data = payload(step["send"], step.get("seed", 0), step.get("text", False))
                    if step.get("text"):
                        data = data.decode()
                    await ws.send(data)
                    out["echoes"].append(digest(await ws.recv()) == digest(data))
                elif "fragments" in step:
                    # One message in fragments of these sizes (websockets sends an iterable as fragments).
                    parts = [payload(n, step.get("seed", 0) + i, False) for i, n in enumerate(step["fragments"])]
                    await ws.send(parts)
                    out["echoes"].append(digest(await ws.recv()) == digest(b"".join(parts)))
                elif "collect" in step:
                    # Sends the text, then takes every message until the server's close.
                    await ws.send(step["collect"])
                    out["collected"] = []
                    try:
                        while True:
                            out["collected"].append(digest(await ws.recv()))
                    except websockets.exceptions.ConnectionClosed:
                        pass
                elif "command" in step:
                    # The server closes: recv() ends with the close it saw.
                    await ws.send(step["command"])
                    try:
                        await ws.recv()
                    except websockets.exceptions.ConnectionClosed:
                        pass
                else:
                    await ws.close(step["close"], bytes.fromhex(step.get("reason_hex", "")).decode())
            await ws.wait_closed()
    except Exception as e:
        out["error"] = f"{type(e).__name__}: {e}"
    out["close_code"] = getattr(locals().get("ws"), "close_code", None)
    out["close_reason"] = getattr(locals().get("ws"), "close_reason", None)
    report(out)


async def aiohttp_client(url, cfg):
    import aiohttp

    out = {"peer": f"aiohttp {aiohttp.__version__}", "echoes": [], "error": None}
    deflate = cfg.get("deflate")
    async with aiohttp.ClientSession() as session:
        try:
            async with session.ws_connect(url, protocols=cfg.get("protocols") or (),
                                          compress=deflate.get("wbits", 15) if deflate is not None else 0,
                                          max_msg_size=cfg.get("max_size") or 0, autoping=False) as ws:
                out["extensions"] = ws._response.headers.get("Sec-WebSocket-Extensions")
                out["protocol"] = ws.protocol
                for step in cfg["steps"]:
                    if "send" in step:
                        data = payload(step["send"], step.get("seed", 0), step.get("text", False))
                        if step.get("text"):
                            await ws.send_str(data.decode())
                        else:
                            await ws.send_bytes(data)
                        msg = await ws.receive()
                        ok = msg.type in (aiohttp.WSMsgType.TEXT, aiohttp.WSMsgType.BINARY)
                        out["echoes"].append(ok and digest(msg.data) == digest(data.decode() if step.get("text") else data))
                        if not ok:
                            out["error"] = f"{msg.type.name}: {msg.data} {msg.extra}"
                            break
                    elif "raw" in step:
                        # One frame as given (aiohttp's writer checks nothing), then what came back.
                        await ws._writer._send_frame(bytes.fromhex(step.get("hex", "")), step["raw"],
                                                     step.get("compress") or None)
                        if "followed_by" in step:
                            await ws.send_str(step["followed_by"])
                        msg = await ws.receive()
                        data = bytes(msg.data).hex() if isinstance(msg.data, (bytes, bytearray)) else msg.data
                        out.setdefault("raw", []).append([msg.type.name, data])
                        if msg.type == aiohttp.WSMsgType.CLOSE:
                            break
                    elif "collect" in step:
                        await ws.send_str(step["collect"])
                        out["collected"] = []
                        while True:
                            msg = await ws.receive()
                            if msg.type not in (aiohttp.WSMsgType.TEXT, aiohttp.WSMsgType.BINARY):
                                out["received"] = msg.type.name
                                break
                            out["collected"].append(digest(msg.data))
                    elif "command" in step:
                        await ws.send_str(step["command"])
                        msg = await ws.receive()
                        out["received"] = msg.type.name
                        if msg.type == aiohttp.WSMsgType.CLOSE:
                            out["close_reason"] = msg.extra
                    else:
                        # aiohttp sends the code and the reason's octets as given, unchecked.
                        await ws.close(code=step["close"], message=bytes.fromhex(step.get("reason_hex", "")))
                out["close_code"] = ws.close_code
        except Exception as e:
            out["error"] = f"{type(e).__name__}: {e}"
    report(out)


def main():
    role = sys.argv[1]
    if role.endswith("-server"):
        cfg = json.loads(sys.argv[2])
        asyncio.run(websockets_server(cfg) if role.startswith("websockets") else aiohttp_server(cfg))
    else:
        client = websockets_client if role.startswith("websockets") else aiohttp_client
        for line in sys.stdin:
            url, cfg = line.rstrip("\n").split(" ", 1)
            asyncio.run(client(url, json.loads(cfg)))


main()
