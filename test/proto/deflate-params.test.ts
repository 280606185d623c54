/** permessage-deflate negotiation (RFC 7692 §5, §7.1) and the extension header parser. */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { parseExtensions } from '../../src/proto/extensions.js';
import { acceptAsClient, clientOffer, negotiateAsServer } from '../../src/proto/deflate-params.js';

describe('Sec-WebSocket-Extensions parsing', () => {
  it('reads several extensions with parameters, quoted values and odd spacing', () => {
    assert.deepEqual(
      parseExtensions(
        'permessage-deflate; client_max_window_bits, permessage-deflate ;server_max_window_bits="10" , x-foo',
      ),
      [
        { name: 'permessage-deflate', params: [['client_max_window_bits', true]] },
        { name: 'permessage-deflate', params: [['server_max_window_bits', '10']] },
        { name: 'x-foo', params: [] },
      ],
    );
    assert.deepEqual(parseExtensions(undefined), []);
    assert.deepEqual(parseExtensions(['a', 'b; c=1']), [
      { name: 'a', params: [] },
      { name: 'b', params: [['c', '1']] },
    ]);
  });
  it('refuses malformed headers', () => {
    for (const bad of ['; x', 'a; =1', 'a; b="1', 'a b', 'a; b=" "', 'a;;'])
      assert.equal(parseExtensions(bad), null, bad);
  });
});

const offer = (s: string) => parseExtensions(s)!;

describe('negotiateAsServer', () => {
  it('accepts a plain offer and the common browser offer', () => {
    assert.equal(negotiateAsServer(offer('permessage-deflate'))?.response, 'permessage-deflate');
    const r = negotiateAsServer(offer('permessage-deflate; client_max_window_bits'))!;
    assert.equal(r.response, 'permessage-deflate');
    assert.deepEqual(r.params, {
      serverNoContextTakeover: false,
      clientNoContextTakeover: false,
      serverMaxWindowBits: 15,
      clientMaxWindowBits: 15,
    });
  });
  it('honours what the client asks: window bits and no context takeover', () => {
    const r = negotiateAsServer(
      offer('permessage-deflate; server_no_context_takeover; server_max_window_bits=10; client_max_window_bits=12'),
    )!;
    assert.equal(
      r.response,
      'permessage-deflate; server_no_context_takeover; server_max_window_bits=10; client_max_window_bits=12',
    );
    assert.deepEqual(r.params, {
      serverNoContextTakeover: true,
      clientNoContextTakeover: false,
      serverMaxWindowBits: 10,
      clientMaxWindowBits: 12,
    });
  });
  it('applies its own configuration, limiting the client only when the client said it can be limited', () => {
    const cfg = { clientNoContextTakeover: true, serverMaxWindowBits: 11, clientMaxWindowBits: 9 };
    assert.equal(
      negotiateAsServer(offer('permessage-deflate; client_max_window_bits'), cfg)?.response,
      'permessage-deflate; client_no_context_takeover; server_max_window_bits=11; client_max_window_bits=9',
    );
    assert.equal(negotiateAsServer(offer('permessage-deflate'), cfg), null);
  });
  it('reads parameter names whatever their case', () => {
    assert.equal(
      negotiateAsServer(offer('permessage-deflate; Server_No_Context_Takeover; CLIENT_MAX_WINDOW_BITS=10'))?.response,
      'permessage-deflate; server_no_context_takeover; client_max_window_bits=10',
    );
  });
  it('declines an offer with an unknown, repeated or invalid parameter, and takes the next', () => {
    for (const bad of [
      'permessage-deflate; foo',
      'permessage-deflate; server_no_context_takeover; server_no_context_takeover',
      'permessage-deflate; server_max_window_bits=16',
      'permessage-deflate; server_max_window_bits=7',
      'permessage-deflate; server_max_window_bits',
      'permessage-deflate; client_max_window_bits=abc',
      'permessage-deflate; server_no_context_takeover=1',
    ]) {
      assert.equal(negotiateAsServer(offer(bad)), null, bad);
      assert.equal(
        negotiateAsServer(offer(`${bad}, permessage-deflate; client_max_window_bits=10`))?.response,
        'permessage-deflate; client_max_window_bits=10',
        bad,
      );
    }
    assert.equal(negotiateAsServer(offer('x-webkit-deflate-frame')), null);
  });
});

describe('client offer and acceptAsClient', () => {
  it('offers client_max_window_bits and what is configured', () => {
    assert.equal(clientOffer(), 'permessage-deflate; client_max_window_bits');
    assert.equal(
      clientOffer({ serverNoContextTakeover: true, serverMaxWindowBits: 10, clientMaxWindowBits: 12 }),
      'permessage-deflate; server_no_context_takeover; server_max_window_bits=10; client_max_window_bits=12',
    );
  });
  it('accepts a valid response and refuses an invalid one', () => {
    assert.deepEqual(
      acceptAsClient(offer('permessage-deflate; server_max_window_bits=12; client_max_window_bits=10')),
      {
        serverNoContextTakeover: false,
        clientNoContextTakeover: false,
        serverMaxWindowBits: 12,
        clientMaxWindowBits: 10,
      },
    );
    for (const bad of [
      'permessage-deflate; foo',
      'permessage-deflate; client_max_window_bits',
      'permessage-deflate, permessage-deflate',
      'x-other',
    ]) {
      assert.equal(acceptAsClient(offer(bad)), null, bad);
    }
    assert.equal(
      acceptAsClient(offer('permessage-deflate'), { serverNoContextTakeover: true }),
      null,
      'the server ignored our requirement',
    );
    assert.equal(
      acceptAsClient(offer('permessage-deflate; server_max_window_bits=12'), { serverMaxWindowBits: 10 }),
      null,
    );
    // Our own client_no_context_takeover holds whether or not the server's response repeats it.
    assert.equal(
      acceptAsClient(offer('permessage-deflate'), { clientNoContextTakeover: true })?.clientNoContextTakeover,
      true,
    );
  });
});
