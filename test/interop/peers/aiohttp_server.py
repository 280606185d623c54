"""aiohttp echo server (a second independent peer): subprotocol 'chat', /forbidden refused with 403."""
import asyncio
import aiohttp
from aiohttp import web


async def ws_handler(request):
    ws = web.WebSocketResponse(protocols=("chat",), max_msg_size=0)
    await ws.prepare(request)
    async for msg in ws:
        if msg.type == aiohttp.WSMsgType.TEXT:
            await ws.send_str(msg.data)
        elif msg.type == aiohttp.WSMsgType.BINARY:
            await ws.send_bytes(msg.data)
    return ws


async def forbidden(request):
    raise web.HTTPForbidden(text="forbidden\n")


async def main():
    app = web.Application()
    app.add_routes([web.get("/", ws_handler), web.get("/forbidden", forbidden)])
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]
    print(f"listening {port} aiohttp {aiohttp.__version__}", flush=True)
    await asyncio.Future()


asyncio.run(main())
