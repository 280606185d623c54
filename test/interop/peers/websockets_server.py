"""Python `websockets` echo server (a real, independent peer): subprotocol 'chat', /forbidden refused with 403."""
import asyncio, http, sys
import websockets


async def echo(ws, path=None):
    async for message in ws:
        await ws.send(message)


def refuse(path, headers):
    if path == "/forbidden":
        return http.HTTPStatus.FORBIDDEN, [("Content-Type", "text/plain")], b"forbidden\n"
    return None


async def main():
    async with websockets.serve(echo, "127.0.0.1", 0, subprotocols=["chat"], process_request=refuse, max_size=None) as server:
        port = server.sockets[0].getsockname()[1]
        print(f"listening {port} websockets {websockets.__version__}", flush=True)
        await asyncio.Future()


asyncio.run(main())
