"""aiohttp client: the interop exchange against URL; prints one JSON line of what it saw."""
import asyncio, json, sys
import aiohttp


async def receive(ws, **kw):
    """The next message other than a ping; pings are answered (autoping is off to see pongs)."""
    while True:
        msg = await ws.receive(**kw)
        if msg.type == aiohttp.WSMsgType.PING:
            await ws.pong(msg.data)
            continue
        return msg


async def main(url):
    out = {"peer": f"python aiohttp {aiohttp.__version__}"}
    async with aiohttp.ClientSession() as session:
        compress = 15 if len(sys.argv) > 2 and sys.argv[2] == "deflate" else 0
        async with session.ws_connect(url, protocols=("superchat", "chat"), max_msg_size=0, autoping=False, compress=compress) as ws:
            out["protocol"] = ws.protocol
            out["extensions"] = ws._response.headers.get("Sec-WebSocket-Extensions")
            text = "héllo wörld ✓ 𝄞"
            await ws.send_str(text)
            out["text"] = (await receive(ws)).data == text
            blob = bytes(i * 7 % 256 for i in range(200_000))
            await ws.send_bytes(blob)
            out["binary"] = (await receive(ws)).data == blob
            await ws.ping(b"interop")
            msg = await receive(ws, timeout=5)
            out["pong"] = msg.type == aiohttp.WSMsgType.PONG and msg.data == b"interop"
            await ws.close(code=1000, message=b"bye")
            out["close_code"] = ws.close_code
        try:
            async with session.ws_connect(url.rstrip("/") + "/forbidden"):
                out["refused"] = None
        except aiohttp.WSServerHandshakeError as e:
            out["refused"] = e.status
    print(json.dumps(out), flush=True)


asyncio.run(main(sys.argv[1]))
