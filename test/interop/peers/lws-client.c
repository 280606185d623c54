/*
 * A libwebsockets client for the interoperability tests: connects to ws://127.0.0.1:PORT/, offers
 * permessage-deflate when given --deflate, sends a text message and then a 200 KB binary message
 * in 16 KiB fragments, prints each message it receives (type, length, FNV-1a hash), then closes
 * with 1000. Exits 0 when both echoes came back and the connection closed, 1 otherwise.
 *
 *   lws-client PORT [--deflate [OFFER]]
 *   lws-client --version
 *
 * OFFER replaces the permessage-deflate offer's text (default
 * "permessage-deflate; client_max_window_bits").
 *
 * Lines printed (one per event, for the test to read):
 *   version <libwebsockets version>
 *   established
 *   sent <text|binary> <length> <hash>
 *   received <text|binary> <length> <hash> compressed=<0|1>
 *     (type and RSV1 as its first callback saw them; " type-changed" added if the last disagrees)
 *   closed
 *   error <what>
 */
#include <libwebsockets.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define BINARY_SIZE (200 * 1024)
#define FRAGMENT (16 * 1024)
#define TEXT "hello from libwebsockets"

static struct lws_extension offered[] = {
	{ "permessage-deflate", lws_extension_callback_pm_deflate,
	  "permessage-deflate; client_max_window_bits" },
	{ NULL, NULL, NULL }
};

static unsigned char binary[BINARY_SIZE];
static unsigned char frame[LWS_PRE + FRAGMENT];

/* What the client does next when writable: 0 send text, 1.. send binary fragments, then close. */
static size_t sent_bytes;
static int text_sent, binary_sent, closing, done, failed;
static int messages_received;

/* The message being received. */
static size_t rx_length;
static uint32_t rx_hash;
static int rx_open, rx_rsv, rx_binary;

static uint32_t fnv1a(uint32_t h, const unsigned char *p, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		h ^= p[i];
		h *= 16777619u;
	}
	return h;
}
#define FNV_START 2166136261u

static int callback(struct lws *wsi, enum lws_callback_reasons reason, void *user, void *in, size_t len)
{
	(void)user;
	switch (reason) {
	case LWS_CALLBACK_CLIENT_CONNECTION_ERROR:
		printf("error %s\n", in ? (const char *)in : "connection failed");
		failed = 1;
		done = 1;
		break;

	case LWS_CALLBACK_CLIENT_ESTABLISHED:
		printf("established\n");
		lws_callback_on_writable(wsi);
		break;

	case LWS_CALLBACK_CLIENT_WRITEABLE:
		if (closing) {
			lws_close_reason(wsi, LWS_CLOSE_STATUS_NORMAL, (unsigned char *)"bye", 3);
			return -1;
		}
		if (!text_sent) {
			size_t n = strlen(TEXT);
			memcpy(frame + LWS_PRE, TEXT, n);
			if (lws_write(wsi, frame + LWS_PRE, n, LWS_WRITE_TEXT) < (int)n) return -1;
			printf("sent text %zu %08x\n", n, fnv1a(FNV_START, (const unsigned char *)TEXT, n));
			text_sent = 1;
			lws_callback_on_writable(wsi);
			break;
		}
		if (!binary_sent) {
			/* One fragment per writable callback, as libwebsockets asks. */
			size_t n = BINARY_SIZE - sent_bytes < FRAGMENT ? BINARY_SIZE - sent_bytes : FRAGMENT;
			int last = sent_bytes + n == BINARY_SIZE;
			int flags = (sent_bytes == 0 ? LWS_WRITE_BINARY : LWS_WRITE_CONTINUATION) | (last ? 0 : LWS_WRITE_NO_FIN);
			memcpy(frame + LWS_PRE, binary + sent_bytes, n);
			if (lws_write(wsi, frame + LWS_PRE, n, (enum lws_write_protocol)flags) < (int)n) return -1;
			sent_bytes += n;
			if (last) {
				printf("sent binary %d %08x\n", BINARY_SIZE, fnv1a(FNV_START, binary, BINARY_SIZE));
				binary_sent = 1;
			} else {
				lws_callback_on_writable(wsi);
			}
		}
		break;

	case LWS_CALLBACK_CLIENT_RECEIVE:
		if (!rx_open) {
			rx_open = 1;
			rx_length = 0;
			rx_hash = FNV_START;
			rx_rsv = lws_get_reserved_bits(wsi);
			rx_binary = lws_frame_is_binary(wsi);
		}
		rx_length += len;
		rx_hash = fnv1a(rx_hash, (const unsigned char *)in, len);
		if (lws_is_final_fragment(wsi) && lws_remaining_packet_payload(wsi) == 0) {
			printf("received %s %zu %08x compressed=%d%s\n", rx_binary ? "binary" : "text", rx_length, rx_hash,
			       (rx_rsv & 0x40) != 0, lws_frame_is_binary(wsi) != rx_binary ? " type-changed" : "");
			rx_open = 0;
			if (++messages_received == 2) {
				closing = 1;
				lws_callback_on_writable(wsi);
			}
		}
		break;

	case LWS_CALLBACK_CLIENT_CLOSED:
		printf("closed\n");
		done = 1;
		break;

	default:
		break;
	}
	return 0;
}

static const struct lws_protocols protocols[] = {
	{ "echo", callback, 0, FRAGMENT * 2, 0, NULL, 0 },
	{ NULL, NULL, 0, 0, 0, NULL, 0 }
};

int main(int argc, char **argv)
{
	if (argc < 2) {
		fprintf(stderr, "usage: lws-client PORT [--deflate] | --version\n");
		return 2;
	}
	if (strcmp(argv[1], "--version") == 0) {
		printf("version %s\n", lws_get_library_version());
		return 0;
	}
	int port = atoi(argv[1]);
	int deflate = argc > 2 && strcmp(argv[2], "--deflate") == 0;
	if (deflate && argc > 3) offered[0].client_offer = argv[3];
	/* Partly compressible: runs of a byte, then noise from a fixed generator. */
	uint32_t x = 12345;
	for (size_t i = 0; i < BINARY_SIZE; i++) {
		x = x * 1103515245u + 12345u;
		binary[i] = (i / 64) % 2 ? (unsigned char)(x >> 16) : (unsigned char)(i / 64);
	}
	setvbuf(stdout, NULL, _IOLBF, 0);
	lws_set_log_level(LLL_ERR | LLL_WARN, NULL);
	printf("version %s\n", lws_get_library_version());

	struct lws_context_creation_info info;
	memset(&info, 0, sizeof info);
	info.port = CONTEXT_PORT_NO_LISTEN;
	info.protocols = protocols;
	if (deflate) info.extensions = offered;
	struct lws_context *context = lws_create_context(&info);
	if (!context) {
		printf("error lws_create_context\n");
		return 1;
	}

	struct lws_client_connect_info ci;
	memset(&ci, 0, sizeof ci);
	ci.context = context;
	ci.address = "127.0.0.1";
	ci.port = port;
	ci.path = "/";
	ci.host = "127.0.0.1";
	ci.origin = "127.0.0.1";
	ci.protocol = NULL;
	if (!lws_client_connect_via_info(&ci)) {
		printf("error lws_client_connect_via_info\n");
		lws_context_destroy(context);
		return 1;
	}
	while (!done && lws_service(context, 0) >= 0) {
	}
	lws_context_destroy(context);
	return failed || messages_received != 2 ? 1 : 0;
}
