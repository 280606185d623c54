"""Python `websockets` client: the interop exchange against URL; prints one JSON line of what it saw."""
import asyncio, json, sys
import websockets


async def main(url):
    out = {"peer": f"python websockets {websockets.__version__}"}
    async with websockets.connect(url, subprotocols=["superchat", "chat"], max_size=None) as ws:
        out["protocol"] = ws.subprotocol
        out["extensions"] = ws.response_headers.get("Sec-WebSocket-Extensions")
        text = "héllo wörld ✓ 𝄞"
        await ws.send(text)
        out["text"] = (await ws.recv()) == text
        blob = bytes(i * 7 % 256 for i in range(200_000))
        await ws.send(blob)
        out["binary"] = (await ws.recv()) == blob
        pong = await ws.ping(b"interop")
        await asyncio.wait_for(pong, 5)
        out["pong"] = True
        await ws.close(1000, "bye")
        out["close_code"] = ws.close_code
    try:
        async with websockets.connect(url.rstrip("/") + "/forbidden"):
            out["refused"] = None
    except websockets.exceptions.InvalidStatusCode as e:
        out["refused"] = e.status_code
    print(json.dumps(out), flush=True)


asyncio.run(main(sys.argv[1]))
