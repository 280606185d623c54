#!/usr/bin/python3
"""An independent checker of `ws-stream serve --pubsub`, written from issue 13's protocol text and
the README / doc/pubsub.md only, with Python's `websockets` (10.x) as the client.

Usage: independent_client.py --urls ws://h:p/[,ws://h:p/...] --check NAME [--history N] [--seed S]
       independent_client.py --urls ... --checks-from-stdin [--history N]

Each check prints `PASS name` or `FAIL name: detail` and the script exits 0 only if all passed.
With --checks-from-stdin, the checks are named on stdin, one line each, and run in turn, each with a
seed of its own (printed: `--check NAME --seed S` replays it), then `DONE name`; it exits at the end of
its input.
Some checks need the test that runs this script to act on the servers or the broker: they print
`CONTROL <what>` on stdout and wait for one line on stdin (the test's answer) before going on.
Waits are for events; a timeout only ends a check that would otherwise hang (it never passes one).
"""

import argparse
import asyncio
import http.client
import json
import random
import string
import sys
import urllib.parse

import websockets

WAIT = 90.0  # seconds before a wait for an event is declared failed (a loaded 2-core machine)
BAD = 'ERR_WS_INVALID_ARGUMENT'
COMPRESSION = None  # 'deflate' with --deflate: permessage-deflate offered by every client


class CheckFailed(Exception):
    pass


def require(cond, what):
    if not cond:
        raise CheckFailed(what)


def is_int(v):
    return isinstance(v, int) and not isinstance(v, bool)


def out(line):
    sys.stdout.write(line + '\n')
    sys.stdout.flush()


async def control(what):
    """Asks the test to act (kill the broker, ...) and waits for its answer line."""
    out(f'CONTROL {what}')
    loop = asyncio.get_running_loop()
    answer = await loop.run_in_executor(None, sys.stdin.readline)
    require(answer.strip() == 'OK', f'control {what} answered {answer!r}')


class Client:
    """One WebSocket connection; every frame it receives is queued (none is swallowed by a wait)."""

    def __init__(self, ws, url, name):
        self.ws = ws
        self.url = url
        self.name = name
        self.queue = asyncio.Queue()
        self.closed = asyncio.get_running_loop().create_future()
        self.worker = ws.response_headers.get('X-Ws-Stream-Worker')
        self.task = asyncio.ensure_future(self._read())

    @classmethod
    async def open(cls, url, name='client', **kw):
        ws = await websockets.connect(url, max_size=None, compression=COMPRESSION, open_timeout=WAIT, ping_interval=None, **kw)
        return cls(ws, url, name)

    async def _read(self):
        try:
            async for frame in self.ws:
                self.queue.put_nowait(frame)
        except websockets.ConnectionClosed:
            pass
        finally:
            if not self.closed.done():
                self.closed.set_result(self.ws.close_code)

    async def send(self, obj):
        await self.ws.send(obj if isinstance(obj, (str, bytes)) else json.dumps(obj))

    async def next(self, what, timeout=WAIT):
        """The next frame, parsed (a text frame that is no JSON object fails the check)."""
        get = asyncio.ensure_future(self.queue.get())
        done, _ = await asyncio.wait({get, self.closed}, timeout=timeout, return_when=asyncio.FIRST_COMPLETED)
        if get not in done:
            get.cancel()
            if self.closed.done() and self.queue.empty():
                raise CheckFailed(f'{self.name}: closed ({self.closed.result()}) while waiting for {what}')
            if self.closed.done():
                return self._parse(self.queue.get_nowait(), what)
            raise CheckFailed(f'{self.name}: nothing within {timeout}s while waiting for {what}')
        return self._parse(get.result(), what)

    def _parse(self, frame, what):
        require(isinstance(frame, str), f'{self.name}: a binary frame from the server while waiting for {what}')
        try:
            v = json.loads(frame)
        except ValueError:
            raise CheckFailed(f'{self.name}: not JSON from the server ({frame[:100]!r}) for {what}')
        require(isinstance(v, dict), f'{self.name}: not a JSON object from the server: {frame[:100]}')
        return v

    async def subscribe(self, topic, since=None):
        req = {'op': 'subscribe', 'topic': topic}
        if since is not None:
            req['since'] = since
        await self.send(req)
        r = await self.next(f'subscribed {topic!r}')
        check_subscribed(r, topic, since is not None)
        return r

    async def marker(self):
        """Subscribes to a fresh topic and returns every frame received before its `subscribed`
        (requests act in the order sent, so anything an earlier request caused comes first)."""
        topic = f'marker-{random.random()}'
        await self.send({'op': 'subscribe', 'topic': topic})
        before = []
        while True:
            r = await self.next('a marker subscribe')
            if r.get('op') == 'subscribed' and r.get('topic') == topic:
                await self.send({'op': 'unsubscribe', 'topic': topic})
                return before
            before.append(r)

    async def ping(self):
        """The connection is open and answering (a WebSocket ping is ponged)."""
        waiter = await self.ws.ping()
        await asyncio.wait_for(waiter, WAIT)

    async def close(self):
        await self.ws.close()
        self.task.cancel()


def check_subscribed(r, topic, with_since):
    require(r.get('op') == 'subscribed', f'expected subscribed {topic!r}, got {json.dumps(r)[:200]}')
    keys = ['op', 'topic', 'offset', 'epoch'] + (['recovered'] if with_since else [])
    require(sorted(r.keys()) == sorted(keys), f'subscribed has fields {list(r.keys())}, expected {keys}')
    require(r['topic'] == topic, f'subscribed topic {r["topic"]!r} != {topic!r}')
    require(is_int(r['offset']) and r['offset'] >= 0, f'subscribed offset {r["offset"]!r} is no integer >= 0')
    require(isinstance(r['epoch'], str) and r['epoch'] != '', f'subscribed epoch {r["epoch"]!r} is no non-empty string')
    if with_since:
        require(isinstance(r['recovered'], bool), f'recovered {r["recovered"]!r} is no boolean')


def check_message(m, topic, offset=None):
    require(m.get('op') == 'message', f'expected a message of {topic!r}, got {json.dumps(m)[:200]}')
    require(sorted(m.keys()) == ['data', 'offset', 'op', 'topic'], f'message has fields {list(m.keys())}')
    require(m['topic'] == topic, f'message of {m["topic"]!r}, expected {topic!r}')
    require(is_int(m['offset']) and m['offset'] >= 1, f'message offset {m["offset"]!r} is no integer >= 1')
    if offset is not None:
        require(m['offset'] == offset, f'message of {topic!r} at offset {m["offset"]}, expected {offset}')


def check_error(e, code, what):
    require(e.get('op') == 'error', f'{what}: expected an error op, got {json.dumps(e)[:200]}')
    require(sorted(e.keys()) == ['code', 'message', 'op'], f'{what}: error has fields {list(e.keys())}')
    require(e['code'] == code, f'{what}: error code {e["code"]!r}, expected {code!r} ({e["message"]})')
    require(isinstance(e['message'], str) and e['message'] != '', f'{what}: error message {e["message"]!r}')
    # (An error is no echo of the request: its message stays short however large the request.)
    require(len(e['message'].encode()) <= 1024, f'{what}: an error message of {len(e["message"].encode())} bytes')


class Servers:
    """The servers under test: several URLs (one process each), or one URL (maybe --workers)."""

    def __init__(self, urls):
        self.urls = urls
        self.opened = []
        self.count = 0

    async def connect(self, i=None, name=None):
        i = self.count if i is None else i
        self.count += 1
        c = await Client.open(self.urls[i % len(self.urls)], name or f'client{i}')
        self.opened.append(c)
        return c

    async def connect_elsewhere(self, other, name):
        """A client on another process than `other` (another URL, or another --workers worker);
        on one single process, the same one."""
        if len(self.urls) > 1:
            i = (self.urls.index(other.url) + 1) % len(self.urls)
            return await self.connect(i, name)
        # (With --workers the kernel spreads connections between the workers, unevenly.)
        for _ in range(300):
            c = await self.connect(0, name)
            if other.worker is None or c.worker != other.worker:
                return c
            await c.close()
        raise CheckFailed('no connection reached another worker in 300 tries')

    async def close_all(self):
        for c in self.opened:
            try:
                await asyncio.wait_for(c.close(), 5)
            except Exception:
                pass


def uniq(name):
    return f'{name}-{random.getrandbits(40):x}'


# ---------------------------------------------------------------------------------------- checks


async def check_shapes(s, args):
    """Every op and reply shape: fields, types, `recovered` only with `since`, data round trips."""
    t = uniq('shapes')
    a = await s.connect(0, 'a')
    b = await s.connect(1, 'b')
    if COMPRESSION:
        require([e.name for e in a.ws.extensions] == ['permessage-deflate'], f'extensions {a.ws.extensions}')
    ra = await a.subscribe(t)
    require('recovered' not in ra, 'recovered without since')
    rb = await b.subscribe(t)
    require(ra['epoch'] == rb['epoch'], f'two processes report epochs {ra["epoch"]!r} and {rb["epoch"]!r}')
    require(ra['offset'] == 0 and rb['offset'] == 0, f'a new topic is at offset {ra["offset"]}/{rb["offset"]}')
    values = [
        {'text': 'héllo 😀', 'n': 1}, [1, 'two', None, True, False, 2.5, {'x': []}], 'a string',
        'π ≠ 3 \u2028 \u0000 "quoted" \\', 0, -17, 1.5, 123456789012, True, False, None, {}, [],
        {'nested': {'deeper': {'deepest': [[[]]]}}}, 'x' * 70000,
    ]
    pub = await s.connect(2, 'publisher')
    for v in values:
        await pub.send({'op': 'publish', 'topic': t, 'data': v})
    for c in (a, b):
        for i, v in enumerate(values):
            m = await c.next(f'message {i + 1}')
            check_message(m, t, i + 1)
            require(m['data'] == v, f'{c.name}: data {json.dumps(m["data"])[:80]} != published {json.dumps(v)[:80]}')
    # publish and unsubscribe answer nothing on success; the publisher is not subscribed.
    require(await pub.marker() == [], 'the publisher (not subscribed) was sent something')
    await a.send({'op': 'unsubscribe', 'topic': t})
    require(await a.marker() == [], 'unsubscribe answered something')
    # With since: recovered is a boolean, offset an integer.
    c = await s.connect(1, 'c')
    r = await c.subscribe(t, {'offset': len(values) - 1, 'epoch': ra['epoch']})
    require(r['recovered'] is True, f'since the last offset but one: recovered {r["recovered"]}')
    require(r['offset'] == len(values) - 1, f'recovered subscribed offset {r["offset"]}, expected since.offset')
    m = await c.next('the recovered message')
    check_message(m, t, len(values))
    require(m['data'] == values[-1], 'recovered data differs')
    require(await c.marker() == [], 'more than the missed message was recovered')
    # A publish right after a subscribe, without waiting for `subscribed`, comes back to its sender.
    t2 = uniq('own')
    d = await s.connect(0, 'd')
    await d.send({'op': 'subscribe', 'topic': t2})
    await d.send({'op': 'publish', 'topic': t2, 'data': 'mine'})
    check_subscribed(await d.next('subscribed'), t2, False)
    m = await d.next('its own publish')
    check_message(m, t2, 1)
    require(m['data'] == 'mine', 'own publish data')


async def check_bad_input(s, args):
    """Every kind of bad input gets an error op; the connection stays open; others are unaffected."""
    t = uniq('bad')
    watcher = await s.connect(0, 'watcher')
    await watcher.subscribe(t)
    c = await s.connect(1, 'bad-client')
    own = uniq('own')
    await c.subscribe(own)
    long_ascii = 'a' * 257
    cases = [
        '', ' ', 'not json', '{"op":"publish"', '{"op":"subscribe","topic":"x"}garbage', "{'op':'subscribe'}",
        '[1,2]', '[]', '[{"op":"subscribe","topic":"x"}]', '3', '-1.5', '"subscribe"', 'null', 'true', 'false',
        '{}', '{"op":null}', '{"op":5,"topic":"x"}', '{"op":true}', '{"op":["subscribe"],"topic":"x"}',
        '{"op":{"a":1},"topic":"x"}', '{"op":"","topic":"x"}', '{"op":"nope","topic":"x"}',
        '{"op":"Subscribe","topic":"x"}', '{"op":"subscribe "}', '{"topic":"x","data":1}',
        json.dumps({'op': 'x' * 1000000, 'topic': 'x'}), json.dumps({'op': '😀' * 300000}),
        json.dumps({'op': 'subscribe', 'topic': 'y' * 1000000}),
        '{"op":"subscribe"}', '{"op":"unsubscribe"}', '{"op":"publish","data":1}', '{"op":"publish","topic":"x"}',
        '{"op":"subscribe","topic":""}', '{"op":"unsubscribe","topic":""}', '{"op":"publish","topic":"","data":1}',
        '{"op":"subscribe","topic":5}', '{"op":"subscribe","topic":null}', '{"op":"subscribe","topic":true}',
        '{"op":"subscribe","topic":["x"]}', '{"op":"subscribe","topic":{"x":1}}', '{"op":"publish","topic":7,"data":1}',
        json.dumps({'op': 'subscribe', 'topic': long_ascii}),
        json.dumps({'op': 'publish', 'topic': long_ascii, 'data': 1}),
        json.dumps({'op': 'unsubscribe', 'topic': long_ascii}),
        json.dumps({'op': 'subscribe', 'topic': 'a' * 255 + 'é'}),  # 257 bytes, 256 chars
        json.dumps({'op': 'subscribe', 'topic': 'é' * 129}),  # 258 bytes, 129 chars
        json.dumps({'op': 'subscribe', 'topic': 'a' * 253 + '😀'}),  # 257 bytes, 254 chars (255 UTF-16 units)
        json.dumps({'op': 'subscribe', 'topic': '€' * 86}),  # 258 bytes
        '{"op":"subscribe","topic":"lone \\ud800 surrogate"}',
        '{"op":"subscribe","topic":"x","since":null}', '{"op":"subscribe","topic":"x","since":5}',
        '{"op":"subscribe","topic":"x","since":"1"}', '{"op":"subscribe","topic":"x","since":[1,"e"]}',
        '{"op":"subscribe","topic":"x","since":{}}', '{"op":"subscribe","topic":"x","since":{"offset":1}}',
        '{"op":"subscribe","topic":"x","since":{"epoch":"e"}}',
        '{"op":"subscribe","topic":"x","since":{"offset":-1,"epoch":"e"}}',
        '{"op":"subscribe","topic":"x","since":{"offset":1.5,"epoch":"e"}}',
        '{"op":"subscribe","topic":"x","since":{"offset":"1","epoch":"e"}}',
        '{"op":"subscribe","topic":"x","since":{"offset":null,"epoch":"e"}}',
        '{"op":"subscribe","topic":"x","since":{"offset":true,"epoch":"e"}}',
        '{"op":"subscribe","topic":"x","since":{"offset":1e400,"epoch":"e"}}',
        '{"op":"subscribe","topic":"x","since":{"offset":1,"epoch":5}}',
        '{"op":"subscribe","topic":"x","since":{"offset":1,"epoch":null}}',
        '{"op":"subscribe","topic":"x","since":{"offset":1,"epoch":["e"]}}',
        '{"op":"publish","topic":"x","data":1e400}', '{"op":"publish","topic":"x","data":[-1e999]}',
        '{"op":"publish","topic":"x","data":' + '[' * 100000 + ']' * 100000 + '}',
        '{"op":"publish","topic":"x","data":' + '{"a":' * 50000 + '1' + '}' * 50000 + '}',
    ]
    for i, text in enumerate(cases):
        what = f'bad input {i}: {text[:60]!r}'
        await c.send(text)
        check_error(await c.next(what), BAD, what)
    for frame in (b'', b'\x00\x01', json.dumps({'op': 'publish', 'topic': t, 'data': 1}).encode()):
        await c.send(frame)
        check_error(await c.next(f'binary frame {frame[:20]!r}'), BAD, 'a binary frame')
    # Huge data: over a subscriber's backlog (4 MiB) is refused, takes no offset, reaches no one.
    await c.send(json.dumps({'op': 'publish', 'topic': t, 'data': 'x' * (5 * 1024 * 1024)}))
    check_error(await c.next('huge data'), 'ERR_WS_MESSAGE_TOO_BIG', 'a 5 MiB publish')
    # Topics at the boundary are fine: 256 bytes in 1-, 2-, 3- and 4-byte characters.
    for topic in ('a' * 256, 'é' * 128, 'a' * 254 + 'é', 'a' + '€' * 85, 'ab' + '😀' * 63 + 'a' * 2, '😀' * 64):
        require(len(topic.encode()) == 256, f'test topic of {len(topic.encode())} bytes')
        await c.subscribe(topic)
        await c.send({'op': 'publish', 'topic': topic, 'data': 'edge'})
        check_message(await c.next(f'a message of a 256-byte topic'), topic, 1)
        await c.send({'op': 'unsubscribe', 'topic': topic})
    # The connection is open and works; nothing reached the watcher; nothing else came to c.
    await c.ping()
    await c.send({'op': 'publish', 'topic': t, 'data': 'after'})
    m = await watcher.next('the one good publish')
    check_message(m, t, 1)
    require(m['data'] == 'after', f'the watcher got {m["data"]!r}')
    require(await c.marker() == [], 'the bad client got something unexpected')
    require(await watcher.marker() == [], 'the watcher got something unexpected')
    # A message over 16 MiB is not read at all: closed with 1009 (doc/pubsub.md).
    big = await s.connect(1, 'too-big')
    await big.send(json.dumps({'op': 'publish', 'topic': t, 'data': 'y' * (17 * 1024 * 1024)}))
    code = await asyncio.wait_for(big.closed, WAIT)
    require(code == 1009, f'a 17 MiB frame closed with {code}, expected 1009')
    await watcher.ping()
    require(await watcher.marker() == [], 'the watcher got something from the 17 MiB frame')


async def check_extra_fields(s, args):
    """Fields the protocol does not name are ignored (doc/pubsub.md): the request acts as without them."""
    t = uniq('extra')
    c = await s.connect(0)
    r = await c.subscribe(t)  # via a plain one first
    await c.send({'op': 'unsubscribe', 'topic': t, 'extra': 1})
    await c.send({'op': 'subscribe', 'topic': t, 'data': 'ignored', 'x': [1]})
    r = await c.next('subscribed with extra fields')
    check_subscribed(r, t, False)
    await c.send({'op': 'publish', 'topic': t, 'data': 1, 'since': {'offset': 0, 'epoch': 'e'}, 'z': None})
    check_message(await c.next('a publish with extra fields'), t, 1)
    await c.send({'op': 'subscribe', 'topic': uniq('x'), 'since': {'offset': 0, 'epoch': 'nope', 'more': 1}})
    r = await c.next('subscribed with an extra since field')
    require(r.get('op') == 'subscribed' and r.get('recovered') is False, f'got {r}')


async def check_order(s, args):
    """Many clients on every process, concurrent publishers on every process, several topics:
    each client gets each topic's messages exactly once, in offset order, with no gap, each
    publisher's in the order it sent them, and every client the same message at each offset."""
    n_clients, n_topics, n_pubs, per = args.clients, 3, 6, args.per
    topics = [uniq(f'order{k}') for k in range(n_topics)]
    clients = [await s.connect(i, f'sub{i}') for i in range(n_clients)]
    start = {}
    for c in clients:
        for t in topics:
            r = await c.subscribe(t)
            start[(c.name, t)] = r['offset']
    pubs = [await s.connect(i, f'pub{i}') for i in range(n_pubs)]

    async def publish(p, pi):
        for seq in range(per):
            for t in topics:
                await p.send({'op': 'publish', 'topic': t, 'data': {'p': pi, 's': seq}})

    await asyncio.gather(*(publish(p, i) for i, p in enumerate(pubs)))
    total = n_pubs * per
    seen_at = {}  # (topic, offset) -> data, to compare clients

    async def collect(c):
        last = {t: start[(c.name, t)] for t in topics}
        last_seq = {}
        got = {t: 0 for t in topics}
        dups = gaps = reorders = 0
        while any(got[t] < total for t in topics):
            m = await c.next(f'messages ({got})')
            require(m.get('op') == 'message', f'{c.name}: {json.dumps(m)[:200]}')
            check_message(m, m['topic'])
            t, off = m['topic'], m['offset']
            require(t in topics, f'{c.name}: a message of {t!r}')
            if off <= last[t]:
                dups += 1
            elif off != last[t] + 1:
                gaps += 1
            last[t] = max(last[t], off)
            got[t] += 1
            p, seq = m['data']['p'], m['data']['s']
            if last_seq.get((t, p), -1) >= seq:
                reorders += 1
            last_seq[(t, p)] = seq
            key = (t, off)
            if key in seen_at:
                require(seen_at[key] == m['data'], f'{t} offset {off}: {seen_at[key]} for one client, {m["data"]} for {c.name}')
            else:
                seen_at[key] = m['data']
        require((dups, gaps, reorders) == (0, 0, 0), f'{c.name}: {dups} duplicates, {gaps} gaps, {reorders} reorders')
        for t in topics:
            require(last[t] == start[(c.name, t)] + total, f'{c.name}: {t} ended at {last[t]}')
            require(all(last_seq[(t, p)] == per - 1 for p in range(n_pubs)), f'{c.name}: a publisher incomplete')
        require(await c.marker() == [], f'{c.name}: more messages than published')

    await asyncio.gather(*(collect(c) for c in clients))
    for p in pubs:
        require(await p.marker() == [], f'{p.name} (not subscribed) got something: an error?')
    out(f'# {n_clients} clients x {n_topics} topics x {total} messages, all in order, once')


async def check_recovery(s, args):
    """A client that reconnects to another process with `since` gets exactly what it missed."""
    t = uniq('recover')
    a = await s.connect(0, 'a')
    r = await a.subscribe(t)
    w = await s.connect(2, 'watch')
    await w.subscribe(t)
    pub = await s.connect(1, 'pub')
    for i in range(3):
        await pub.send({'op': 'publish', 'topic': t, 'data': f'm{i}'})
    for i in range(3):
        check_message(await a.next('live'), t, i + 1)
    epoch = r['epoch']
    await a.close()
    await pub.send({'op': 'publish', 'topic': t, 'data': 'm3'})
    await pub.send({'op': 'publish', 'topic': t, 'data': 'm4'})
    await pub.send({'op': 'publish', 'topic': t, 'data': 'm5'})
    # The publishes have been taken once a subscriber sees them.
    for i in range(6):
        m = await w.next(f'm{i}')
        check_message(m, t, i + 1)
        require(m['data'] == f'm{i}', f'watcher got {m}')
    b = await s.connect_elsewhere(a, 'b')
    r = await b.subscribe(t, {'offset': 3, 'epoch': epoch})
    require(r['recovered'] is True and r['offset'] == 3 and r['epoch'] == epoch, f'recovery answered {r}')
    for i in range(3, 6):
        m = await b.next(f'missed m{i}')
        check_message(m, t, i + 1)
        require(m['data'] == f'm{i}', f'recovered {m["data"]!r} at {i + 1}')
    await pub.send({'op': 'publish', 'topic': t, 'data': 'm6'})
    check_message(await b.next('live after recovery'), t, 7)
    require(await b.marker() == [], 'more than the missed set')
    # since == the current offset: recovered, nothing delivered.
    c = await s.connect(1, 'c')
    r = await c.subscribe(t, {'offset': 7, 'epoch': epoch})
    require(r['recovered'] is True and r['offset'] == 7, f'since now answered {r}')
    require(await c.marker() == [], 'since now delivered something')
    # since in the future / another epoch: recovered false, offset now, then live from there.
    for name, since in (('future', {'offset': 1000, 'epoch': epoch}), ('epoch', {'offset': 2, 'epoch': epoch + 'x'})):
        d = await s.connect(2, name)
        r = await d.subscribe(t, since)
        require(r['recovered'] is False, f'{name}: recovered {r["recovered"]}')
        require(r['offset'] == 7 and r['epoch'] == epoch, f'{name}: answered {r}')
        require(await d.marker() == [], f'{name}: delivered something')
    # since 0 of the right epoch: everything (history holds 7 <= --history).
    e = await s.connect(0, 'from0')
    r = await e.subscribe(t, {'offset': 0, 'epoch': epoch})
    require(r['recovered'] is True and r['offset'] == 0, f'since 0 answered {r}')
    for i in range(7):
        check_message(await e.next(f'from 0: {i + 1}'), t, i + 1)
    # Bad since values are errors (a bad since), and the connection stays.
    for since in ({'offset': -1, 'epoch': epoch}, {'offset': 2.5, 'epoch': epoch}, {'offset': '2', 'epoch': epoch}):
        await e.send({'op': 'subscribe', 'topic': uniq('bad-since'), 'since': since})
        check_error(await e.next(f'since {since}'), BAD, f'since {since}')
    await e.ping()


async def check_history(s, args):
    """--history N: a since that history still covers recovers; one older than it does not."""
    n = args.history
    t = uniq('history')
    w = await s.connect(0, 'w')
    r = await w.subscribe(t)
    pub = await s.connect(1, 'pub')
    total = 2 * n
    for i in range(total):
        await pub.send({'op': 'publish', 'topic': t, 'data': i})
    for i in range(total):
        check_message(await w.next('live'), t, i + 1)
    epoch = r['epoch']
    a = await s.connect(2, 'covered')
    r = await a.subscribe(t, {'offset': total - n, 'epoch': epoch})
    require(r['recovered'] is True and r['offset'] == total - n, f'since {total - n} (history {n}) answered {r}')
    for i in range(total - n, total):
        m = await a.next('recovered')
        check_message(m, t, i + 1)
        require(m['data'] == i, 'recovered data')
    require(await a.marker() == [], 'extra recovered')
    c = await s.connect(1, 'current')
    r = await c.subscribe(t, {'offset': total, 'epoch': epoch})
    require(r['recovered'] is True and r['offset'] == total, f'since {total} (the last offset) answered {r}')
    require(await c.marker() == [], 'since the last offset delivered something')
    b = await s.connect(0, 'trimmed')
    r = await b.subscribe(t, {'offset': total - n - 1, 'epoch': epoch})
    require(r['recovered'] is False and r['offset'] == total, f'since {total - n - 1} (trimmed) answered {r}')
    require(await b.marker() == [], 'a trimmed since delivered something')


async def check_edges(s, args):
    """Subscribe twice, unsubscribe what is not subscribed, publish where not subscribed, many topics."""
    t = uniq('twice')
    a = await s.connect(0, 'a')
    r1 = await a.subscribe(t)
    r2 = await a.subscribe(t)
    require((r2['offset'], r2['epoch']) == (r1['offset'], r1['epoch']), f'second subscribe {r2} != {r1}')
    r3 = await a.subscribe(t, {'offset': 0, 'epoch': r1['epoch']})
    require(r3['offset'] == r1['offset'] and isinstance(r3['recovered'], bool), f'third subscribe (since) {r3}')
    b = await s.connect(1, 'b')
    await b.send({'op': 'publish', 'topic': t, 'data': 'once'})
    check_message(await a.next('the one message'), t, 1)
    require(await a.marker() == [], 'subscribing twice delivered twice')
    # Unsubscribe of a topic not subscribed: nothing, no reply; the connection works.
    await b.send({'op': 'unsubscribe', 'topic': uniq('never')})
    await b.send({'op': 'unsubscribe', 'topic': t})
    require(await b.marker() == [], 'unsubscribe of a topic not subscribed answered')
    # After unsubscribe nothing more comes; a new subscribe starts at the current offset.
    await a.send({'op': 'unsubscribe', 'topic': t})
    require(await a.marker() == [], 'unsubscribe answered')  # the unsubscribe has acted
    await b.send({'op': 'publish', 'topic': t, 'data': 'gone'})
    c = await s.connect(2, 'c')
    rc = await c.subscribe(t)
    await b.send({'op': 'publish', 'topic': t, 'data': 'seen'})
    # 'gone' and c's subscribe come by different connections, which nothing orders (with --workers
    # or several processes, by different ways to the broker): c gets each offset after its own.
    require(rc['offset'] in (1, 2), f'c subscribed at {rc["offset"]}, expected 1 or 2')
    for off in range(rc['offset'] + 1, 4):
        m = await c.next(f'offset {off}')
        check_message(m, t, off)
        require(m['data'] == ['gone', 'seen'][off - 2], f'offset {off}: {m["data"]!r}')
    require(await a.marker() == [], 'a message after unsubscribe')
    r = await a.subscribe(t)
    require(r['offset'] == 3, f'resubscribe at {r["offset"]}, expected 3')
    # Many topics on one connection.
    many = [uniq(f'many{i}') for i in range(args.topics)]
    for tt in many:
        await a.subscribe(tt)
    for tt in many:
        await b.send({'op': 'publish', 'topic': tt, 'data': tt})
    got = {}
    for _ in many:
        m = await a.next('many topics')
        check_message(m, m['topic'], 1)
        require(m['data'] == m['topic'], 'many topics data')
        got[m['topic']] = got.get(m['topic'], 0) + 1
    require(sorted(got) == sorted(many) and set(got.values()) == {1}, 'many topics: not each once')


async def check_outage(s, args):
    """The broker killed and restarted: publish errors with ERR_WS_BROKER_UNAVAILABLE while it is
    down, connections stay up, subscriptions come back by themselves, delivery resumes in order."""
    t = uniq('outage')
    subs = [await s.connect(i, f'sub{i}') for i in range(len(s.urls) * 2)]
    for c in subs:
        first_epoch = (await c.subscribe(t))['epoch']
    pub = subs[0]  # a subscriber too: each publish of it ends in an error op or its own message
    await pub.send({'op': 'publish', 'topic': t, 'data': 'before'})
    for c in subs:
        check_message(await c.next('before the outage'), t, 1)
    await control('kill-broker')
    down = [await s.connect(i, f'down{i}') for i in range(len(s.urls))]
    for p in down:
        await p.send({'op': 'publish', 'topic': t, 'data': 'while down'})
        check_error(await p.next('a publish while the broker is down'), 'ERR_WS_BROKER_UNAVAILABLE', 'publish while down')
        # A subscribe the broker cannot take is refused, not retried by the server.
        await p.send({'op': 'subscribe', 'topic': uniq('down')})
        check_error(await p.next('a subscribe while the broker is down'), 'ERR_WS_BROKER_UNAVAILABLE', 'subscribe while down')
        # Bad input is still answered as such.
        await p.send('nope')
        check_error(await p.next('bad input while the broker is down'), BAD, 'bad input while down')
    for c in subs:
        await c.ping()
    await control('start-broker')

    def check_announced(r, name):
        # Redis lost the topic: its new epoch is announced by a re-sent subscribed, offset 0, first.
        check_subscribed(r, t, False)
        require(r['epoch'] != first_epoch and r['offset'] == 0, f'{name}: announced {r}')

    # Publish until the broker takes it (no resubscribe by anyone): 3 messages come back to pub.
    after = []
    attempt = 0
    while len(after) < 3:
        require(attempt < 3000, 'the broker never took a publish again')
        await pub.send({'op': 'publish', 'topic': t, 'data': f'after {attempt}'})
        r = await pub.next(f'publish {attempt} after the restart')
        if r.get('op') == 'subscribed' and args.broker != 'nats':
            check_announced(r, pub.name)
            r = await pub.next(f'publish {attempt} after the new epoch was announced')
        if r.get('op') == 'error':
            check_error(r, 'ERR_WS_BROKER_UNAVAILABLE', 'publish while the broker comes back')
            await asyncio.sleep(0.1)  # a retry pace, not an assertion
        else:
            check_message(r, t)
            after.append(r)
        attempt += 1
    offsets = [m['offset'] for m in after]
    require(all(b == a + 1 for a, b in zip(offsets, offsets[1:])), f'offsets after the restart: {offsets}')
    # Every subscriber, on every process, gets the same messages, once, in order, by itself.
    for c in subs[1:]:
        if args.broker != 'nats':
            check_announced(await c.next('the new epoch announced'), c.name)
        for want in after:
            m = await c.next(f'after the restart: {want}')
            require(m == want, f'{c.name}: got {m}, the publisher got {want}')
    for c in subs:
        require(await c.marker() == [], f'{c.name}: more after the restart')
    # New connections and subscriptions work on every process; the clients refused while the
    # broker was down subscribe again and get what follows.
    for i in range(len(s.urls)):
        n = await s.connect(i, f'new{i}')
        await n.subscribe(uniq('fresh'))
    for p in down:
        r = await p.subscribe(t)
        require(r['offset'] == after[-1]['offset'], f'{p.name}: subscribed at {r["offset"]} after {after[-1]["offset"]}')
    await pub.send({'op': 'publish', 'topic': t, 'data': 'last'})
    for c in subs + down:
        m = await c.next('the last message')
        check_message(m, t, after[-1]['offset'] + 1)
        require(m['data'] == 'last', f'{c.name}: {m["data"]!r}')
    # A client that left before the outage comes back with its since: recovered if the broker kept
    # the topic's history through the restart (NATS with file storage: the same epoch), else
    # recovered false at the new epoch's current offset (Redis without persistence lost it).
    late = await s.connect(1, 'late')
    r = await late.subscribe(t, {'offset': 0, 'epoch': first_epoch})
    if args.broker == 'nats':
        require(r['recovered'] is True and r['epoch'] == first_epoch, f'NATS kept the stream, yet since answered {r}')
        want = list(range(1, after[-1]['offset'] + 2))
        got = [(await late.next('recovered across the outage'))['offset'] for _ in want]
        require(got == want, f'recovered offsets {got}, expected {want}')
    else:
        require(r['recovered'] is False and r['epoch'] != first_epoch, f'Redis lost the topic, yet since answered {r}')
        require(r['offset'] == after[-1]['offset'] + 1, f'recovered false at {r["offset"]}')
    require(await late.marker() == [], 'more recovered than published')


async def check_slow(s, args):
    """A subscriber that does not read is closed with 1008 (or its messages dropped); the publisher
    and a reading subscriber go on."""
    t = uniq('slow')
    slow = await Client.open(s.urls[0], 'slow', max_queue=1, read_limit=2 ** 12)
    s.opened.append(slow)
    await slow.subscribe(t)
    slow.task.cancel()  # stop reading: the kernel's buffers, then the server's backlog, fill
    fast = await s.connect(0, 'fast')
    await fast.subscribe(t)
    pub = await s.connect(0, 'pub')
    n = 400
    # Random letters: a backlog counts bytes as sent, so with permessage-deflate they must not shrink.
    data = ''.join(random.choices(string.ascii_letters + string.digits, k=60000))
    # In step with the reading subscriber (its backlog stays one message); the slow one's grows.
    for i in range(n):
        await pub.send({'op': 'publish', 'topic': t, 'data': data})
        check_message(await fast.next(f'fast {i}'), t, i + 1)
    require(await pub.marker() == [], 'the publisher got an error')
    # Now read the slow one: what it was sent, then a close 1008.
    count = 0
    code = None
    try:
        while True:
            frame = await asyncio.wait_for(slow.ws.recv(), WAIT)
            count += 1
    except websockets.ConnectionClosed:
        code = slow.ws.close_code
    # 1008, or, if it read nothing for the close timeout after the server sent its close (5 s; the
    # close frame waits behind the backlog it could not take), the TCP connection cut (1006).
    require(code in (1008, 1006), f'the slow subscriber was closed with {code} after {count} messages, expected 1008')
    require(count < n, f'the slow subscriber got all {n} messages: no backlog bound hit')


async def check_http(s, args):
    """GET / serves the chat page; plain HTTP gets sane answers; the WebSocket side is unaffected."""
    u = urllib.parse.urlparse(s.urls[0])

    def request(method, path, headers=None, body=None):
        conn = http.client.HTTPConnection(u.hostname, u.port, timeout=WAIT)
        conn.request(method, path, body=body, headers=headers or {})
        res = conn.getresponse()
        data = res.read()
        conn.close()
        return res.status, res.getheader('Content-Type') or '', res.getheader('Content-Length'), data

    loop = asyncio.get_running_loop()
    status, ctype, length, body = await loop.run_in_executor(None, request, 'GET', '/')
    require(status == 200, f'GET / answered {status}')
    require(ctype.startswith('text/html'), f'GET / content-type {ctype!r}')
    require(b'<' in body and len(body) > 100, 'GET / has no page')
    status, ctype, length, body = await loop.run_in_executor(None, request, 'GET', '/nope')
    require(status == 404, f'GET /nope answered {status}')
    require(length is not None and int(length) == len(body), f'404 Content-Length {length} for {len(body)} bytes')
    status, *_ = await loop.run_in_executor(None, request, 'HEAD', '/')
    require(status in (200, 405), f'HEAD / answered {status}')
    status, *_ = await loop.run_in_executor(None, request, 'POST', '/', {'Content-Type': 'text/plain'}, b'hello')
    require(400 <= status < 500 or status == 200, f'POST / answered {status}')
    bad = {'Upgrade': 'websocket', 'Connection': 'Upgrade', 'Sec-WebSocket-Version': '13', 'Sec-WebSocket-Key': 'short'}
    status, *_ = await loop.run_in_executor(None, request, 'GET', '/', bad)
    require(status == 400, f'a broken upgrade answered {status}')
    # Garbage on the port: an HTTP 400 or a closed connection, and the server goes on.
    reader, writer = await asyncio.open_connection(u.hostname, u.port)
    writer.write(b'\x16\x03\x01 this is not http\r\n\r\n')
    await writer.drain()
    answer = await asyncio.wait_for(reader.read(), WAIT)
    require(answer == b'' or answer.startswith(b'HTTP/1.1 400'), f'garbage answered {answer[:60]!r}')
    writer.close()
    c = await s.connect(0)
    await c.subscribe(uniq('after-http'))


async def check_sigterm(s, args):
    """SIGTERM: every client is closed with 1001, the server exits 0 (the test checks the exit)."""
    clients = [await s.connect(0, f'c{i}') for i in range(3)]
    for c in clients:
        await c.subscribe(uniq('bye'))
    await control('sigterm')
    for c in clients:
        code = await asyncio.wait_for(c.closed, WAIT)
        require(code == 1001, f'{c.name}: closed with {code}, expected 1001')


async def check_topic_chars(s, args):
    """Topics are any well-formed string of 1..256 UTF-8 bytes: characters that mean something to a
    broker (NATS subject tokens and wildcards, Redis hash tags, separators), to JSON or to
    JavaScript objects are topics like any other, each its own."""
    base = uniq('chars')
    names = ['a.b', 'a.*', '>', '*', 'a b', 'tab\tand\nnewline\r', '\u0000nul', '{tag}', 'x}:o', 'x}:e', 'ws-stream:x',
             '__proto__', 'constructor', 'toString', 'hasOwnProperty', '"quoted"', "back\\slash", '$JS.API.INFO',
             '_INBOX.x', '😀', '\u2028', '\ufeff', ' ', '.', '..', 'a..b', '-', '%', '%2e', 'a/b', '../..']
    topics = [n if n in ('__proto__', 'constructor', 'toString', 'hasOwnProperty') else f'{base}{n}' for n in names]
    topics += [n for n in names if n not in ('__proto__', 'constructor', 'toString', 'hasOwnProperty')][:0]
    a = await s.connect(0, 'a')
    b = await s.connect(1, 'b')
    start = {}
    for t in topics:
        r = await a.subscribe(t)
        start[t] = r['offset']
        await b.subscribe(t)
    pub = await s.connect(2, 'pub')
    for t in topics:
        await pub.send({'op': 'publish', 'topic': t, 'data': {'for': t}})
    for c in (a, b):
        got = {}
        for _ in topics:
            m = await c.next(f'{c.name}: messages of odd topics ({len(got)} so far)')
            check_message(m, m['topic'])
            require(m['topic'] in start, f'{c.name}: a message of {m["topic"]!r}, never subscribed')
            require(m['data'] == {'for': m['topic']}, f'{c.name}: topic {m["topic"]!r} got {m["data"]}')
            require(m['offset'] == start[m['topic']] + 1, f'{c.name}: {m["topic"]!r} at {m["offset"]}')
            require(m['topic'] not in got, f'{c.name}: {m["topic"]!r} twice')
            got[m['topic']] = m
        require(await c.marker() == [], f'{c.name}: more than one message per topic')
    # Recovery works for them too.
    for t in topics[:6]:
        r = await pub.subscribe(t, {'offset': start[t], 'epoch': (await a.subscribe(t))['epoch']})
        require(r['recovered'] is True, f'{t!r}: not recovered')
        check_message(await pub.next(f'recovered {t!r}'), t, start[t] + 1)


async def check_recover_live(s, args):
    """Clients reconnect with `since`, to other processes, while publishers keep publishing: each
    gets every offset after `since` exactly once, in order, history then live with no seam."""
    t = uniq('seam')
    pubs = [await s.connect(i, f'pub{i}') for i in range(3)]
    w = await s.connect(0, 'watcher')
    epoch = (await w.subscribe(t))['epoch']
    total = 150
    stop = asyncio.get_running_loop().create_future()

    async def publish(p, pi):
        for seq in range(total // 3):
            await p.send({'op': 'publish', 'topic': t, 'data': [pi, seq]})
            if seq % 5 == 4:
                require(await p.marker() == [], f'{p.name}: an error while publishing')  # paces it

    async def reconnecting(k):
        """Reads some, disconnects, reconnects elsewhere with since, until the last offset."""
        c = await s.connect(k, f'r{k}')
        last = (await c.subscribe(t))['offset']
        hops = 0
        while last < total:
            for _ in range(random.randint(1, 12)):
                if last >= total:
                    break
                m = await c.next(f'r{k} after offset {last}')
                check_message(m, t, last + 1)
                last = m['offset']
            await c.close()
            hops += 1
            c = await s.connect(k + hops, f'r{k}.{hops}')
            r = await c.subscribe(t, {'offset': last, 'epoch': epoch})
            require(r['recovered'] is True and r['offset'] == last, f'r{k}: since {last} answered {r}')
        require(await c.marker() == [], f'r{k}: more than {total} messages')

    readers = [asyncio.ensure_future(reconnecting(k)) for k in range(6)]
    await asyncio.gather(*(publish(p, i) for i, p in enumerate(pubs)))
    await asyncio.gather(*readers)
    for i in range(total):
        check_message(await w.next('watcher'), t, i + 1)


async def check_churn(s, args):
    """Unsubscribe and subscribe again with `since` on the same connection, over and over, while
    another process publishes: the sequence has no gap and no duplicate across the seams."""
    t = uniq('churn')
    c = await s.connect(0, 'churner')
    r = await c.subscribe(t)
    epoch, last = r['epoch'], r['offset']
    pub = await s.connect(1, 'pub')
    total = 120

    async def publish():
        for i in range(total):
            await pub.send({'op': 'publish', 'topic': t, 'data': i})
            if i % 10 == 9:
                require(await pub.marker() == [], 'publisher error')

    task = asyncio.ensure_future(publish())
    while last < total:
        m = await c.next(f'after {last}')
        if m.get('op') == 'subscribed':
            require(m['topic'] == t and m['recovered'] is True, f'resubscribe answered {m}')
            continue
        check_message(m, t, last + 1)
        last = m['offset']
        if last % 7 == 0 and last < total:
            # Pipelined: messages already on their way before the unsubscribe acted are fine;
            # the resubscribe with since=last must deliver exactly from last + 1.
            since = last
            await c.send({'op': 'unsubscribe', 'topic': t})
            await c.send({'op': 'subscribe', 'topic': t, 'since': {'offset': since, 'epoch': epoch}})
            while True:
                m = await c.next(f'the resubscribe after {last}')
                if m.get('op') == 'subscribed':
                    require(m['recovered'] is True and m['offset'] == since, f'resubscribe since {since} answered {m}')
                    last = since  # the new subscription delivers from since + 1 (again)
                    break
                check_message(m, t)
                require(m['offset'] == last + 1, f'before the resubscribe: offset {m["offset"]} after {last}')
                last = m['offset']
    await task
    require(await c.marker() == [], 'more than published')


async def check_pipelined(s, args):
    """Requests sent back to back without waiting act in the order sent."""
    t = uniq('pipe')
    c = await s.connect(0, 'c')
    reqs = [
        {'op': 'subscribe', 'topic': t},
        {'op': 'subscribe', 'topic': t},
        {'op': 'publish', 'topic': t, 'data': 1},
        {'op': 'unsubscribe', 'topic': t},
        {'op': 'publish', 'topic': t, 'data': 2},
        {'op': 'subscribe', 'topic': t},
        {'op': 'publish', 'topic': t, 'data': 3},
    ]
    for r in reqs:
        await c.send(r)
    r1 = await c.next('subscribed 1')
    check_subscribed(r1, t, False)
    r2 = await c.next('subscribed 2')
    require(r2 == r1, f'a repeated subscribe answered {r2}, first {r1}')
    m = await c.next('message 1')
    check_message(m, t, 1)
    require(m['data'] == 1, 'data 1')
    r3 = await c.next('subscribed 3')
    check_subscribed(r3, t, False)
    require(r3['offset'] == 2, f'the subscribe after publish 2 answered offset {r3["offset"]}')
    m = await c.next('message 3')
    check_message(m, t, 3)
    require(await c.marker() == [], 'more')
    # A request in fragments, with a ping between them, is one request.
    t2 = uniq('frag')
    text = json.dumps({'op': 'subscribe', 'topic': t2})
    await c.ws.send([text[:5], text[5:9], text[9:]])
    check_subscribed(await c.next('a fragmented subscribe'), t2, False)


async def check_max_topics(s, args):
    """A connection may hold --max-topics (1000) topics; one more is ERR_WS_TOO_MANY_TOPICS and the
    connection stays open; a repeated one and one after an unsubscribe are fine."""
    base = uniq('cap')
    c = await s.connect(0, 'c')
    for i in range(1000):
        await c.send({'op': 'subscribe', 'topic': f'{base}-{i}'})
    for i in range(1000):
        check_subscribed(await c.next(f'subscribed {i}'), f'{base}-{i}', False)
    await c.send({'op': 'subscribe', 'topic': f'{base}-more'})
    check_error(await c.next('one topic too many'), 'ERR_WS_TOO_MANY_TOPICS', 'topic 1001')
    await c.subscribe(f'{base}-5')
    await c.send({'op': 'unsubscribe', 'topic': f'{base}-5'})
    await c.subscribe(f'{base}-more')
    await c.ping()


async def check_big(s, args):
    """Large messages: up to a subscriber's backlog (4 MiB with the envelope) they go through, except
    over what the broker server takes (NATS max_payload, 1 MiB): ERR_WS_MESSAGE_TOO_BIG, no offset
    taken, the connection and what follows unaffected."""
    t = uniq('big')
    sub = await s.connect(1, 'sub')
    await sub.subscribe(t)
    pub = await s.connect(0, 'pub')
    offset = 0
    for size in (1024 * 1024 + 1, 3 * 1024 * 1024 + 512 * 1024):
        data = 'b' * size
        await pub.send({'op': 'publish', 'topic': t, 'data': data})
        if args.broker == 'nats':
            check_error(await pub.next(f'a publish of {size} bytes'), 'ERR_WS_MESSAGE_TOO_BIG', f'{size} bytes on NATS')
        else:
            offset += 1
            m = await sub.next(f'a message of {size} bytes')
            check_message(m, t, offset)
            require(m['data'] == data, f'{size} bytes arrived as {len(m["data"])}')
        await pub.send({'op': 'publish', 'topic': t, 'data': 'small'})
        offset += 1
        m = await sub.next('the small one after it')
        check_message(m, t, offset)
    require(await pub.marker() == [], 'the publisher got more')
    require(await sub.marker() == [], 'the subscriber got more')


async def check_worker_death(s, args):
    """--workers: a worker killed is replaced; only its clients lose their connection; the others
    go on in order, and a client of the dead worker recovers what it missed with since."""
    t = uniq('death')
    clients = []
    for i in range(300):
        c = await s.connect(0, f'c{i}')
        # At most 3 on one worker (the kernel spreads connections unevenly): enough of each.
        if sum(1 for d in clients if d.worker == c.worker) >= 3:
            await c.close()
        else:
            clients.append(c)
        if len(clients) == 6:
            break
    workers = sorted({c.worker for c in clients})
    require(len(workers) == 2 and None not in workers, f'workers seen: {workers}')
    epoch = None
    for c in clients:
        epoch = (await c.subscribe(t))['epoch']
    victim = workers[0]
    survivors = [c for c in clients if c.worker != victim]
    dead = [c for c in clients if c.worker == victim]
    await survivors[0].send({'op': 'publish', 'topic': t, 'data': 'm1'})
    for c in clients:
        check_message(await c.next('m1'), t, 1)
    await control(f'kill-worker {victim}')
    for c in dead:
        code = await asyncio.wait_for(c.closed, WAIT)
        require(code == 1006, f'{c.name} on the killed worker: closed with {code}')
    await survivors[0].send({'op': 'publish', 'topic': t, 'data': 'm2'})
    for c in survivors:
        m = await c.next('m2')
        check_message(m, t, 2)
        require(m['data'] == 'm2', 'm2')
    back = await s.connect(0, 'back')
    r = await back.subscribe(t, {'offset': 1, 'epoch': epoch})
    require(r['recovered'] is True and r['offset'] == 1, f'since 1 after the worker died answered {r}')
    m = await back.next('m2 recovered')
    check_message(m, t, 2)
    require(m['data'] == 'm2', 'recovered m2')
    for c in survivors + [back]:
        require(await c.marker() == [], f'{c.name}: more')


async def check_join_race(s, args):
    """Clients on every process subscribe to a new topic while publishers on every process are
    publishing to it: each client gets exactly the offsets after its `subscribed` offset, in order,
    up to the last one published."""
    t = uniq('join')
    n_pubs = len(s.urls) if len(s.urls) > 1 else 2
    pubs = [await s.connect(i, f'pub{i}') for i in range(n_pubs)]
    per = 60
    clients = [await s.connect(i, f'c{i}') for i in range(12)]

    async def publish(p, pi):
        for k in range(per):
            await p.send({'op': 'publish', 'topic': t, 'data': [pi, k]})
            if k % 6 == 5:
                await asyncio.sleep(0)  # let subscribes interleave (no assertion waits on this)

    async def join(c, k):
        await asyncio.sleep(0)
        return (await c.subscribe(t))['offset']

    results = await asyncio.gather(*(publish(p, i) for i, p in enumerate(pubs)), *(join(c, k) for k, c in enumerate(clients)))
    starts = results[n_pubs:]
    total = n_pubs * per
    # The publishes are all taken once a client subscribed from the start has them all.
    for c, start in zip(clients, starts):
        for off in range(start + 1, total + 1):
            check_message(await c.next(f'{c.name}: offset {off} (joined at {start})'), t, off)
        require(await c.marker() == [], f'{c.name}: more than {total}')


async def check_outage_live(s, args):
    """The broker killed and restarted while publishers on every process keep publishing: every
    subscriber gets one sequence per epoch, contiguous, no duplicate, the same message at each
    offset as every other subscriber, and every publish that got no error. With NATS (file
    storage) the epoch survives the restart: one sequence holds everything accepted; with Redis
    (no persistence) a new epoch starts at offset 1, complete from there, announced to every
    subscriber by a re-sent `subscribed` (offset 0, the new epoch) just before its first message;
    the first epoch's last messages, sent by Redis to some processes and not yet to others when it
    was killed, are lost with its data for the others (doc/pubsub.md, *Redis broker*): at most one
    per publisher (each waits for its own message before the next), at the end of the epoch."""
    t = uniq('live-outage')
    subs = [await s.connect(i, f'sub{i}') for i in range(len(s.urls) * 2)]
    pubs = [await s.connect(i, f'pub{i}') for i in range(len(s.urls))]
    for c in subs + pubs:
        await c.subscribe(t)
    seen = {c.name: [] for c in subs + pubs}  # (offset, data) in arrival order; (None, subscribed) for a new epoch
    accepted = {p.name: [] for p in pubs}
    first_epoch = []  # (data, offset): accepted publishes that came back to their publisher in the first epoch
    errors = {p.name: 0 for p in pubs}
    phase = {'now': 'before'}
    counts = {(p.name, ph): 0 for p in pubs for ph in ('before', 'down', 'after')}
    stop = {'now': False}

    async def publishing(p, pi):
        k = 0
        while not stop['now']:
            data = [pi, k]
            await p.send({'op': 'publish', 'topic': t, 'data': data})
            while True:
                # Taken, but lost with a broker that lost its data: no message and no error ever
                # come. After a while the loop goes on with that publish's fate unknown (it is
                # not counted as accepted: the verdict does not depend on this wait).
                if p.queue.empty() and p.closed.done():
                    raise CheckFailed(f'{p.name}: closed ({p.closed.result()})')
                try:
                    r = await p.next(f'{p.name}: its publish {k} or its error', timeout=5.0)
                except CheckFailed:
                    if p.closed.done():
                        raise
                    break
                if r.get('op') == 'error':
                    check_error(r, 'ERR_WS_BROKER_UNAVAILABLE', f'{p.name} publish {k}')
                    errors[p.name] += 1
                    await asyncio.sleep(0.05)  # a retry pace, not an assertion
                    break
                if r.get('op') == 'subscribed':
                    check_subscribed(r, t, False)
                    seen[p.name].append((None, r))
                    continue
                check_message(r, t)
                seen[p.name].append((r['offset'], r['data']))
                if r['data'] == data:
                    accepted[p.name].append(data)
                    if all(off is not None for off, _ in seen[p.name]):
                        first_epoch.append((data, r['offset']))
                    counts[(p.name, phase['now'])] += 1
                    break
            k += 1

    async def until(cond, what):
        for _ in range(int(WAIT * 20)):
            if cond():
                return
            await asyncio.sleep(0.05)  # polls the loops' progress (they wait for events)
        raise CheckFailed(f'never: {what}')

    async def reading(c):
        while True:
            try:
                r = await c.next('messages', timeout=1.0)
            except CheckFailed:
                if stop['now']:
                    return
                continue
            if r.get('op') == 'subscribed':
                check_subscribed(r, t, False)
                seen[c.name].append((None, r))
                continue
            check_message(r, t)
            seen[c.name].append((r['offset'], r['data']))

    readers = [asyncio.ensure_future(reading(c)) for c in subs]
    loops = [asyncio.ensure_future(publishing(p, i)) for i, p in enumerate(pubs)]
    await until(lambda: all(counts[(p.name, 'before')] >= 10 for p in pubs), '10 publishes taken per publisher')
    errors_before = dict(errors)
    await control('kill-broker')
    phase['now'] = 'down'
    await until(lambda: all(errors[p.name] >= errors_before[p.name] + 3 for p in pubs), 'errors while down')
    await control('start-broker')
    phase['now'] = 'after'
    await until(lambda: all(counts[(p.name, 'after')] >= 10 for p in pubs), '10 publishes taken per publisher after')
    stop['now'] = True
    await asyncio.gather(*loops)
    # Every publish taken has reached every subscriber (the last ones may still be on their way).
    wanted = [d for p in pubs for d in accepted[p.name]]

    def lost_with_redis(name):
        """The first epoch's accepted publishes past the last one this subscriber got in it, once a
        new epoch is announced to it (Redis died before it sent them this subscriber's way)."""
        got = seen[name]
        ends = [i for i, (off, _) in enumerate(got) if off is None]
        if args.broker == 'nats' or not ends:
            return []
        last = max((off for off, _ in got[:ends[0]]), default=0)
        return [d for d, off in first_epoch if off > last]

    def has_all(name):
        got = [d for _, d in seen[name]]
        lost = lost_with_redis(name)
        return all(d in got or d in lost for d in wanted)

    await until(lambda: all(has_all(c.name) for c in subs), 'every accepted publish at every subscriber')
    for c in subs:
        lost = lost_with_redis(c.name)
        require(len(lost) <= len(pubs), f'{c.name}: the first epoch ends without {len(lost)} accepted publishes: {lost}')
    stop['now'] = True

    async def rest(p):  # what a publisher's loop had not read yet
        while True:
            try:
                r = await p.next('the rest', timeout=1.0)
            except CheckFailed:
                return
            if r.get('op') == 'message':
                seen[p.name].append((r['offset'], r['data']))
            elif r.get('op') == 'subscribed':
                check_subscribed(r, t, False)
                seen[p.name].append((None, r))

    # (Each ends after a second of silence: all at once, not one after the other.)
    await asyncio.gather(*readers, *(rest(p) for p in pubs))
    at = {}
    for name, got in seen.items():
        epochs = [[]]
        announced = None  # the offset a re-sent subscribed put the client at
        for off, data in got:
            if off is None:
                require(announced is None, f'{name}: two subscribed in a row for one new epoch')
                announced = data['offset']
                if epochs[-1]:
                    epochs.append([])
                continue
            if announced is not None:
                require(off == announced + 1, f'{name}: subscribed at offset {announced}, then offset {off}')
                announced = None
            elif epochs[-1] and off <= epochs[-1][-1][0]:
                raise CheckFailed(f'{name}: offset {off} after {epochs[-1][-1][0]}: a repeat, a reorder, or a new epoch no subscribed announced')
            epochs[-1].append((off, data))
        if args.broker == 'nats':
            require(len(epochs) == 1, f'{name}: {len(epochs)} epochs on NATS with file storage')
        else:
            require(len(epochs) <= 2, f'{name}: {len(epochs)} epochs')
            if name.startswith('sub'):
                require(len(epochs) == 2 and epochs[1][0][0] == 1, f'{name}: no new epoch from offset 1 after Redis restarted empty')
        for e, msgs in enumerate(epochs):
            offs = [o for o, _ in msgs]
            require(offs == list(range(offs[0], offs[0] + len(offs))), f'{name}: epoch {e} has a gap: {offs[:5]}…')
            for o, d in msgs:
                key = (len(epochs) - 1 - e, o)  # counted from the last epoch, which all share
                require(at.setdefault(key, d) == d, f'{name}: offset {o} is {d}, elsewhere {at[key]}')
    out(f'# accepted {len(wanted)} publishes, {sum(errors.values())} refused while down')


CHECKS = {
    'shapes': check_shapes,
    'bad-input': check_bad_input,
    'extra-fields': check_extra_fields,
    'order': check_order,
    'recovery': check_recovery,
    'history': check_history,
    'edges': check_edges,
    'outage': check_outage,
    'slow': check_slow,
    'http': check_http,
    'sigterm': check_sigterm,
    'topic-chars': check_topic_chars,
    'recover-live': check_recover_live,
    'churn': check_churn,
    'pipelined': check_pipelined,
    'max-topics': check_max_topics,
    'big': check_big,
    'worker-death': check_worker_death,
    'join-race': check_join_race,
    'outage-live': check_outage_live,
}


async def main():
    p = argparse.ArgumentParser()
    p.add_argument('--urls', required=True)
    p.add_argument('--check', action='append', default=[])
    p.add_argument('--checks-from-stdin', action='store_true')
    p.add_argument('--history', type=int, default=5)
    p.add_argument('--clients', type=int, default=30)
    p.add_argument('--per', type=int, default=20)
    p.add_argument('--topics', type=int, default=50)
    p.add_argument('--seed', type=int, default=None)
    p.add_argument('--broker', default='memory', choices=['memory', 'workers', 'redis', 'nats'])
    p.add_argument('--deflate', action='store_true')
    args = p.parse_args()
    global COMPRESSION
    COMPRESSION = 'deflate' if args.deflate else None
    if args.checks_from_stdin:
        seeds = random.Random()
        loop = asyncio.get_running_loop()
        failed = 0
        while name := (await loop.run_in_executor(None, sys.stdin.readline)).strip():
            seed = seeds.randrange(2 ** 31)
            random.seed(seed)
            out(f'# seed {seed}')
            failed += not await run_check(name, args)
            out(f'DONE {name}')
        return 1 if failed else 0
    if not args.check:
        p.error('give --check NAME or --checks-from-stdin')
    seed = args.seed if args.seed is not None else random.randrange(2 ** 31)
    random.seed(seed)
    out(f'# seed {seed}')
    failed = 0
    for name in args.check:
        failed += not await run_check(name, args)
    return 1 if failed else 0


async def run_check(name, args):
    """Runs one check on fresh connections; prints PASS or FAIL; whether it passed."""
    s = Servers(args.urls.split(','))
    try:
        await CHECKS[name](s, args)
        out(f'PASS {name}')
        return True
    except CheckFailed as e:
        out(f'FAIL {name}: {e}')
    except Exception as e:  # a crash of the checker is a failure too, with its reason
        out(f'FAIL {name}: {type(e).__name__}: {e}')
    finally:
        await s.close_all()
    return False


if __name__ == '__main__':
    sys.exit(asyncio.run(main()))
