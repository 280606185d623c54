/*
 * A libsoup 3 peer for the interoperability tests (soup.test.ts builds it with gcc and pkg-config into dist/): the
 * same command line and lines on stdout as beast-peer.cpp (see there), strings that may hold spaces in hex. libsoup's
 * API has no call to send a ping or a message in pieces, and no signal for a ping received (it answers them itself):
 * a `ping:` step, `cmd:ping` and the FRAGMENT of a send are left out (`ping:` prints "unsupported ping"), and every
 * message goes whole. `--read-max 0` (the default here) lifts libsoup's own limit of 128 KiB.
 */
#include <libsoup/soup.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static GMainLoop *loop;
static gboolean deflate;
static guint64 read_max;
static char **protocols;

static void say(const char *fmt, ...) G_GNUC_PRINTF(1, 2);
static void say(const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	vprintf(fmt, ap);
	va_end(ap);
	putchar('\n');
	fflush(stdout);
}

/* Hex of n octets (or of a string when n < 0), "-" when empty; the result is freed by the caller. */
static char *hex(const void *data, gssize n)
{
	const unsigned char *p = data;
	if (n < 0)
		n = p ? (gssize)strlen((const char *)p) : 0;
	if (n == 0)
		return g_strdup("-");
	char *out = g_malloc(n * 2 + 1);
	for (gssize i = 0; i < n; i++)
		sprintf(out + i * 2, "%02x", p[i]);
	return out;
}

static GBytes *unhex(const char *h)
{
	if (strcmp(h, "-") == 0)
		return g_bytes_new(NULL, 0);
	size_t n = strlen(h) / 2;
	unsigned char *out = g_malloc(n + 1);
	for (size_t i = 0; i < n; i++)
		sscanf(h + i * 2, "%2hhx", &out[i]);
	out[n] = 0;
	return g_bytes_new_take(out, n);
}

static char *unhex_string(const char *h)
{
	GBytes *b = unhex(h);
	gsize n;
	const char *p = g_bytes_get_data(b, &n);
	char *s = g_strndup(p ? p : "", n);
	g_bytes_unref(b);
	return s;
}

static guint32 fnv(const unsigned char *p, gsize n)
{
	guint32 h = 2166136261u;
	for (gsize i = 0; i < n; i++) {
		h ^= p[i];
		h *= 16777619u;
	}
	return h;
}

/* The same octets as edge.ts's payload(): each 600-octet block is one 300-octet pattern twice. */
static GBytes *payload(gsize size, guint32 seed, gboolean text)
{
	unsigned char *out = g_malloc(size + 1);
	guint32 x = seed;
	for (gsize i = 0; i < size; i++) {
		if (i % 600 == 0)
			x = x * 1103515245u + 12345u;
		unsigned v = ((x >> ((i % 300) % 24)) + (i % 300)) & 0xff;
		out[i] = text ? 0x61 + v % 26 : v;
	}
	return g_bytes_new_take(out, size);
}

static const char *type_name(int type)
{
	return type == SOUP_WEBSOCKET_DATA_TEXT ? "text" : "binary";
}

static void send_invalid_utf8(SoupWebsocketConnection *c)
{
	static const char bad[] = "not \xff\xfe UTF-8";
	GBytes *b = g_bytes_new_static(bad, sizeof bad - 1);
	soup_websocket_connection_send_message(c, SOUP_WEBSOCKET_DATA_TEXT, b);
	g_bytes_unref(b);
}

/* What a connection's end prints: "closed CODE REASON" (the peer's close frame), or "error WHAT 0 -". */
struct ending {
	char *error;
};

static void print_ending(const char *prefix, SoupWebsocketConnection *c, struct ending *e)
{
	if (e->error) {
		say("%serror %s 0 -", prefix, e->error);
		return;
	}
	char *r = hex(soup_websocket_connection_get_close_data(c), -1);
	say("%sclosed %u %s", prefix, soup_websocket_connection_get_close_code(c), r);
	g_free(r);
}

static void on_error(SoupWebsocketConnection *c, GError *error, gpointer data)
{
	struct ending *e = data;
	if (!e->error)
		e->error = hex(error->message, -1);
}

/* ---- server ---- */

struct server_conn {
	int id;
	char prefix[16];
	struct ending ending;
};

static void on_server_message(SoupWebsocketConnection *c, int type, GBytes *message, gpointer data)
{
	struct server_conn *s = data;
	gsize n;
	const unsigned char *p = g_bytes_get_data(message, &n);
	say("%smessage %s %zu %08x", s->prefix, type_name(type), n, fnv(p, n));
	char *text = type == SOUP_WEBSOCKET_DATA_TEXT ? g_strndup((const char *)p, n) : g_strdup("");
	char **words = g_strsplit(text, " ", -1);
	guint count = g_strv_length(words);
	if (count == 3 && strcmp(words[0], "cmd:close") == 0) {
		char *reason = unhex_string(words[2]);
		soup_websocket_connection_close(c, atoi(words[1]), reason);
		g_free(reason);
	} else if (count == 5 && strcmp(words[0], "cmd:send") == 0) {
		gboolean t = strcmp(words[1], "text") == 0;
		GBytes *b = payload(strtoul(words[2], NULL, 10), strtoul(words[3], NULL, 10), t);
		soup_websocket_connection_send_message(c, t ? SOUP_WEBSOCKET_DATA_TEXT : SOUP_WEBSOCKET_DATA_BINARY, b);
		g_bytes_unref(b);
	} else if (count == 1 && strcmp(words[0], "cmd:invalid-utf8") == 0) {
		send_invalid_utf8(c);
	} else {
		soup_websocket_connection_send_message(c, type, message);
	}
	g_strfreev(words);
	g_free(text);
}

static void on_server_pong(SoupWebsocketConnection *c, GBytes *message, gpointer data)
{
	struct server_conn *s = data;
	gsize n;
	const void *p = g_bytes_get_data(message, &n);
	char *h = hex(p, n);
	say("%spong %s", s->prefix, h);
	g_free(h);
}

static void on_server_closed(SoupWebsocketConnection *c, gpointer data)
{
	struct server_conn *s = data;
	print_ending(s->prefix, c, &s->ending);
	g_object_unref(c);
}

static void on_websocket(SoupServer *server, SoupServerMessage *msg, const char *path, SoupWebsocketConnection *c,
			 gpointer data)
{
	static int count;
	struct server_conn *s = g_new0(struct server_conn, 1);
	s->id = ++count;
	snprintf(s->prefix, sizeof s->prefix, "%d ", s->id);
	g_object_ref(c);
	soup_websocket_connection_set_max_incoming_payload_size(c, read_max);
	const char *ext =
		soup_message_headers_get_one(soup_server_message_get_response_headers(msg), "Sec-WebSocket-Extensions");
	char *hp = hex(soup_websocket_connection_get_protocol(c), -1), *he = hex(ext, -1);
	say("%sopen %s %s", s->prefix, hp, he);
	g_free(hp);
	g_free(he);
	g_signal_connect(c, "message", G_CALLBACK(on_server_message), s);
	g_signal_connect(c, "pong", G_CALLBACK(on_server_pong), s);
	g_signal_connect(c, "error", G_CALLBACK(on_error), &s->ending);
	g_signal_connect(c, "closed", G_CALLBACK(on_server_closed), s);
}

static int serve(void)
{
	GError *error = NULL;
	SoupServer *server = soup_server_new("server-header", "soup-peer", NULL);
	static char *offered[] = { "chat", "superchat", NULL };
	soup_server_add_websocket_handler(server, NULL, NULL, offered, on_websocket, NULL, NULL);
	if (deflate)
		soup_server_add_websocket_extension(server, SOUP_TYPE_WEBSOCKET_EXTENSION_DEFLATE);
	else
		soup_server_remove_websocket_extension(server, SOUP_TYPE_WEBSOCKET_EXTENSION_DEFLATE);
	if (!soup_server_listen_local(server, 0, SOUP_SERVER_LISTEN_IPV4_ONLY, &error)) {
		fprintf(stderr, "listen: %s\n", error->message);
		return 1;
	}
	GSList *uris = soup_server_get_uris(server);
	say("listening %d libsoup/%u.%u.%u", g_uri_get_port(uris->data), soup_get_major_version(),
	    soup_get_minor_version(), soup_get_micro_version());
	g_main_loop_run(loop);
	return 0;
}

/* ---- client ---- */

static SoupWebsocketConnection *conn;
static SoupMessage *upgrade;
static char **steps;
static int step;
/* What the connection waits for: an echo of `expected`, the close, or nothing (the next step runs). */
static enum { NOTHING, ECHO, CLOSE, READ } waiting;
static GBytes *expected;
static int expected_type;
static struct ending client_ending;

static gboolean next_step(gpointer unused);

static void schedule(void)
{
	g_idle_add(next_step, NULL);
}

static void on_client_message(SoupWebsocketConnection *c, int type, GBytes *message, gpointer data)
{
	if (waiting == ECHO) {
		waiting = NOTHING;
		char **f = g_strsplit(steps[step - 1], ":", -1);
		gboolean same = type == expected_type && g_bytes_equal(message, expected);
		say("echo %s %s %s", f[1], f[2], same ? "ok" : "bad");
		g_strfreev(f);
		g_bytes_unref(expected);
		expected = NULL;
		schedule();
	} else if (waiting == READ) {
		gsize n;
		const unsigned char *p = g_bytes_get_data(message, &n);
		say("message %s %zu %08x", type_name(type), n, fnv(p, n));
	}
}

static void on_client_pong(SoupWebsocketConnection *c, GBytes *message, gpointer data)
{
	gsize n;
	const void *p = g_bytes_get_data(message, &n);
	char *h = hex(p, n);
	say("pong %s", h);
	g_free(h);
}

static void on_client_closed(SoupWebsocketConnection *c, gpointer data)
{
	print_ending("", c, &client_ending);
	if (waiting == CLOSE || waiting == READ) {
		waiting = NOTHING;
		schedule();
	} else {
		say("done");
		g_main_loop_quit(loop);
	}
}

static gboolean next_step(gpointer unused)
{
	if (!steps[step]) {
		say("done");
		g_main_loop_quit(loop);
		return G_SOURCE_REMOVE;
	}
	char **f = g_strsplit(steps[step++], ":", -1);
	if ((strcmp(f[0], "send") == 0 || strcmp(f[0], "push") == 0) && g_strv_length(f) == 5) {
		gboolean t = strcmp(f[1], "text") == 0;
		GBytes *b = payload(strtoul(f[2], NULL, 10), strtoul(f[3], NULL, 10), t);
		expected_type = t ? SOUP_WEBSOCKET_DATA_TEXT : SOUP_WEBSOCKET_DATA_BINARY;
		soup_websocket_connection_send_message(conn, expected_type, b);
		if (strcmp(f[0], "send") == 0) {
			expected = b;
			waiting = ECHO;
		} else {
			g_bytes_unref(b);
			schedule();
		}
	} else if (strcmp(f[0], "ping") == 0) {
		say("unsupported ping");
		schedule();
	} else if (strcmp(f[0], "say") == 0) {
		GBytes *b = unhex(f[1]);
		soup_websocket_connection_send_message(conn, SOUP_WEBSOCKET_DATA_TEXT, b);
		g_bytes_unref(b);
		schedule();
	} else if (strcmp(f[0], "invalid-utf8") == 0) {
		send_invalid_utf8(conn);
		schedule();
	} else if (strcmp(f[0], "close") == 0) {
		char *reason = unhex_string(f[2]);
		waiting = CLOSE;
		soup_websocket_connection_close(conn, atoi(f[1]), reason);
		g_free(reason);
	} else if (strcmp(f[0], "read") == 0) {
		waiting = READ;
	}
	g_strfreev(f);
	return G_SOURCE_REMOVE;
}

static void on_connected(GObject *session, GAsyncResult *result, gpointer data)
{
	GError *error = NULL;
	conn = soup_session_websocket_connect_finish(SOUP_SESSION(session), result, &error);
	if (!conn) {
		char *h = hex(error->message, -1);
		say("error %s 0 -", h);
		g_free(h);
		g_main_loop_quit(loop);
		return;
	}
	soup_websocket_connection_set_max_incoming_payload_size(conn, read_max);
	const char *ext =
		soup_message_headers_get_one(soup_message_get_response_headers(upgrade), "Sec-WebSocket-Extensions");
	char *hp = hex(soup_websocket_connection_get_protocol(conn), -1), *he = hex(ext, -1);
	say("open %s %s", hp, he);
	g_free(hp);
	g_free(he);
	g_signal_connect(conn, "message", G_CALLBACK(on_client_message), NULL);
	g_signal_connect(conn, "pong", G_CALLBACK(on_client_pong), NULL);
	g_signal_connect(conn, "error", G_CALLBACK(on_error), &client_ending);
	g_signal_connect(conn, "closed", G_CALLBACK(on_client_closed), NULL);
	schedule();
}

static int client(const char *port)
{
	SoupSession *session = soup_session_new();
	if (deflate)
		soup_session_add_feature_by_type(session, SOUP_TYPE_WEBSOCKET_EXTENSION_MANAGER);
	else
		soup_session_remove_feature_by_type(session, SOUP_TYPE_WEBSOCKET_EXTENSION_MANAGER);
	char *url = g_strdup_printf("ws://127.0.0.1:%s/", port);
	upgrade = soup_message_new("GET", url);
	soup_session_websocket_connect_async(session, upgrade, NULL, protocols, G_PRIORITY_DEFAULT, NULL, on_connected,
					     NULL);
	g_main_loop_run(loop);
	return conn ? 0 : 1;
}

int main(int argc, char **argv)
{
	if (argc == 2 && strcmp(argv[1], "--version") == 0) {
		printf("libsoup %u.%u.%u\n", soup_get_major_version(), soup_get_minor_version(),
		       soup_get_micro_version());
		return 0;
	}
	loop = g_main_loop_new(NULL, FALSE);
	GPtrArray *rest = g_ptr_array_new();
	for (int i = 2; i < argc; i++) {
		if (strcmp(argv[i], "--deflate") == 0)
			deflate = TRUE;
		else if (strcmp(argv[i], "--read-max") == 0 && i + 1 < argc)
			read_max = g_ascii_strtoull(argv[++i], NULL, 10);
		else if (strcmp(argv[i], "--protocols") == 0 && i + 1 < argc)
			protocols = g_strsplit(argv[++i], ",", -1);
		else
			g_ptr_array_add(rest, argv[i]);
	}
	g_ptr_array_add(rest, NULL);
	if (argc >= 2 && strcmp(argv[1], "server") == 0)
		return serve();
	if (argc >= 2 && strcmp(argv[1], "client") == 0 && rest->len > 1) {
		steps = (char **)rest->pdata + 1;
		return client(rest->pdata[0]);
	}
	fprintf(stderr, "usage: soup-peer --version | server [options] | client PORT [options] STEP...\n");
	return 2;
}
