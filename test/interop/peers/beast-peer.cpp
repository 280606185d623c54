// A Boost.Beast peer for the interoperability tests (beast.test.ts builds it with g++ into dist/):
// a WebSocket client or an echo server on 127.0.0.1 whose every event is one line on stdout, for the
// test to read. Strings that may hold spaces (subprotocol, extensions, reasons, payloads) are hex.
//
//   beast-peer --version
//   beast-peer server [--deflate] [--read-max N]
//     prints "listening PORT NAME", then per connection K (from 1):
//       K open PROTOCOL EXTENSIONS       what its 101 answered (chat, else superchat, is selected)
//       K message TYPE LENGTH FNV        each message read (FNV-1a 32 of its bytes, 8 hex digits)
//       K pong PAYLOAD                   each pong read
//       K closed CODE REASON             the peer's close frame (read() ended with Beast's `closed`)
//       K error WHAT CODE REASON         read() failed otherwise, with the close code Beast sent
//     A text message "cmd:close CODE REASON" closes; "cmd:ping PAYLOAD" pings; "cmd:send TYPE LENGTH SEED
//     FRAGMENT" sends payload(LENGTH, SEED) in write_some() calls of FRAGMENT octets (0: one write);
//     "cmd:invalid-utf8" sends a text message that is not UTF-8. Any other message is echoed with its type.
//   beast-peer client PORT [--deflate] [--read-max N] [--protocols a,b] STEP...
//     prints "open PROTOCOL EXTENSIONS" (the 101 as read), "ping PAYLOAD" / "pong PAYLOAD" for control
//     frames read, then per step:
//       send:TYPE:LENGTH:SEED:FRAGMENT  sends payload(...) (as above) and reads the echo:
//                                      "echo TYPE LENGTH ok" (type and every octet equal) or "... bad"
//       push:TYPE:LENGTH:SEED:FRAGMENT  sends the same, reads nothing
//       ping:PAYLOAD                   pings, then sends and reads back one message: the pong comes first
//       say:TEXT                       sends TEXT (hex) as a text message, reads nothing
//       invalid-utf8                   sends a text message that is not UTF-8
//       close:CODE:REASON              closes; "closed CODE REASON" is the peer's answer
//       read                           reads until the end: "message TYPE LENGTH FNV" each, then
//                                      "closed CODE REASON" or "error WHAT CODE REASON"
//     and "done" at the end.
#include <boost/asio.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/version.hpp>
#include <boost/beast/websocket.hpp>
#include <boost/version.hpp>

#include <cstdint>
#include <cstdlib>
#include <iostream>
#include <mutex>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

namespace beast = boost::beast;
namespace http = beast::http;
namespace websocket = beast::websocket;
namespace net = boost::asio;
using tcp = net::ip::tcp;
using ws_stream = websocket::stream<tcp::socket>;

static std::mutex out_mutex;

static void say(const std::string &line)
{
	std::lock_guard<std::mutex> lock(out_mutex);
	std::cout << line << std::endl;
}

static std::string hex(beast::string_view s)
{
	static const char digits[] = "0123456789abcdef";
	std::string out;
	for (unsigned char c : s) {
		out += digits[c >> 4];
		out += digits[c & 15];
	}
	return out.empty() ? "-" : out;
}

static std::string unhex(const std::string &h)
{
	std::string out;
	if (h == "-")
		return out;
	for (size_t i = 0; i + 1 < h.size(); i += 2)
		out += static_cast<char>(std::stoi(h.substr(i, 2), nullptr, 16));
	return out;
}

static std::string fnv(const std::string &s)
{
	uint32_t h = 2166136261u;
	for (unsigned char c : s) {
		h ^= c;
		h *= 16777619u;
	}
	char buf[9];
	std::snprintf(buf, sizeof buf, "%08x", h);
	return buf;
}

// The same octets as edge.ts's payload(): each 600-octet block is one 300-octet pattern twice.
static std::string payload(size_t size, uint32_t seed, bool text)
{
	std::string out(size, '\0');
	uint32_t x = seed;
	for (size_t i = 0; i < size; i++) {
		if (i % 600 == 0)
			x = x * 1103515245u + 12345u;
		unsigned v = ((x >> ((i % 300) % 24)) + (i % 300)) & 0xff;
		out[i] = static_cast<char>(text ? 0x61 + v % 26 : v);
	}
	return out;
}

static std::vector<std::string> split(const std::string &s, char sep)
{
	std::vector<std::string> parts;
	std::stringstream in(s);
	std::string part;
	while (std::getline(in, part, sep))
		parts.push_back(part);
	return parts;
}

static void send_payload(ws_stream &ws, bool text, const std::string &data, size_t fragment)
{
	ws.text(text);
	if (fragment == 0 || data.empty()) {
		ws.write(net::buffer(data));
		return;
	}
	for (size_t at = 0; at < data.size(); at += fragment) {
		size_t n = std::min(fragment, data.size() - at);
		ws.write_some(at + n == data.size(), net::buffer(data.data() + at, n));
	}
}

static void send_invalid_utf8(ws_stream &ws)
{
	ws.text(true);
	ws.write(net::buffer(std::string("not \xff\xfe UTF-8")));
}

static void configure(ws_stream &ws, bool deflate, bool server, size_t read_max)
{
	websocket::permessage_deflate pmd;
	(server ? pmd.server_enable : pmd.client_enable) = deflate;
	ws.set_option(pmd);
	if (read_max)
		ws.read_message_max(read_max);
}

/** "closed CODE REASON" when the peer closed, else "error WHAT CODE REASON" with what Beast sent. */
static std::string ending(ws_stream &ws, const beast::error_code &ec)
{
	auto const &r = ws.reason();
	if (ec == websocket::error::closed)
		return "closed " + std::to_string(r.code) + " " + hex(r.reason);
	return "error " + hex(ec.message()) + " " + std::to_string(r.code) + " " + hex(r.reason);
}

static void serve_connection(tcp::socket socket, int id, bool deflate, size_t read_max)
{
	const std::string k = std::to_string(id) + " ";
	ws_stream ws(std::move(socket));
	configure(ws, deflate, true, read_max);
	ws.control_callback([&](websocket::frame_type kind, beast::string_view p) {
		if (kind == websocket::frame_type::pong)
			say(k + "pong " + hex(p));
	});
	std::string protocol, extensions;
	try {
		beast::flat_buffer head;
		http::request<http::string_body> req;
		http::read(ws.next_layer(), head, req);
		for (auto const &want : { "chat", "superchat" }) {
			bool offered = false;
			for (auto const &p : split(std::string(req[http::field::sec_websocket_protocol]), ','))
				offered |= p.substr(p.find_first_not_of(' ')) == want;
			if (offered) {
				protocol = want;
				break;
			}
		}
		ws.set_option(websocket::stream_base::decorator([&](websocket::response_type &res) {
			if (!protocol.empty())
				res.set(http::field::sec_websocket_protocol, protocol);
			extensions = std::string(res[http::field::sec_websocket_extensions]);
		}));
		ws.accept(req);
	} catch (std::exception &e) {
		say(k + "refused " + hex(e.what()));
		return;
	}
	say(k + "open " + hex(protocol) + " " + hex(extensions));
	beast::error_code ec;
	for (;;) {
		beast::flat_buffer buffer;
		ws.read(buffer, ec);
		if (ec)
			break;
		std::string data = beast::buffers_to_string(buffer.data());
		bool text = ws.got_text();
		say(k + "message " + (text ? "text " : "binary ") + std::to_string(data.size()) + " " + fnv(data));
		auto words = split(text ? data : std::string(), ' ');
		if (!words.empty() && words[0] == "cmd:close" && words.size() == 3) {
			ws.close(websocket::close_reason(static_cast<websocket::close_code>(std::stoi(words[1])),
							 unhex(words[2])),
				 ec);
			// close() read up to the peer's close frame: its code is the answer.
			say(k + (ec ? ending(ws, ec) : "closed " + std::to_string(ws.reason().code) + " " +
								 hex(ws.reason().reason)));
			return;
		}
		if (!words.empty() && words[0] == "cmd:ping" && words.size() == 2)
			ws.ping(websocket::ping_data(unhex(words[1])), ec);
		else if (!words.empty() && words[0] == "cmd:send" && words.size() == 5)
			send_payload(ws, words[1] == "text",
				     payload(std::stoul(words[2]), std::stoul(words[3]), words[1] == "text"),
				     std::stoul(words[4]));
		else if (!words.empty() && words[0] == "cmd:invalid-utf8")
			send_invalid_utf8(ws);
		else {
			ws.text(text);
			ws.write(buffer.data(), ec);
		}
		if (ec)
			break;
	}
	say(k + ending(ws, ec));
}

static int server(bool deflate, size_t read_max)
{
	net::io_context ioc;
	tcp::acceptor acceptor(ioc, tcp::endpoint(net::ip::make_address("127.0.0.1"), 0));
	say("listening " + std::to_string(acceptor.local_endpoint().port()) + " " BOOST_BEAST_VERSION_STRING);
	for (int id = 1;; id++) {
		tcp::socket socket(ioc);
		acceptor.accept(socket);
		std::thread([s = std::move(socket), id, deflate, read_max]() mutable {
			try {
				serve_connection(std::move(s), id, deflate, read_max);
			} catch (std::exception &e) {
				say(std::to_string(id) + " error " + hex(e.what()) + " 0 -");
			}
		}).detach();
	}
}

static int client(const std::string &port, bool deflate, size_t read_max, const std::string &protocols,
		  const std::vector<std::string> &steps)
{
	net::io_context ioc;
	ws_stream ws(ioc);
	configure(ws, deflate, false, read_max);
	ws.control_callback([](websocket::frame_type kind, beast::string_view p) {
		if (kind == websocket::frame_type::ping)
			say("ping " + hex(p));
		else if (kind == websocket::frame_type::pong)
			say("pong " + hex(p));
	});
	tcp::resolver resolver(ioc);
	net::connect(ws.next_layer(), resolver.resolve("127.0.0.1", port));
	if (!protocols.empty())
		ws.set_option(websocket::stream_base::decorator([&](websocket::request_type &req) {
			req.set(http::field::sec_websocket_protocol, protocols);
		}));
	websocket::response_type res;
	ws.handshake(res, "127.0.0.1:" + port, "/");
	say("open " + hex(res[http::field::sec_websocket_protocol]) + " " +
	    hex(res[http::field::sec_websocket_extensions]));
	beast::error_code ec;
	for (auto const &step : steps) {
		auto f = split(step, ':');
		if (f[0] == "send" || f[0] == "push") {
			bool text = f[1] == "text";
			std::string data = payload(std::stoul(f[2]), std::stoul(f[3]), text);
			send_payload(ws, text, data, std::stoul(f[4]));
			if (f[0] == "push")
				continue;
			beast::flat_buffer buffer;
			ws.read(buffer);
			bool same = ws.got_text() == text && beast::buffers_to_string(buffer.data()) == data;
			say("echo " + f[1] + " " + f[2] + (same ? " ok" : " bad"));
		} else if (f[0] == "ping") {
			ws.ping(websocket::ping_data(unhex(f[1])));
			ws.text(true);
			ws.write(net::buffer(std::string("after the ping")));
			beast::flat_buffer buffer;
			ws.read(buffer);
			say("echo after-ping");
		} else if (f[0] == "say") {
			ws.text(true);
			ws.write(net::buffer(unhex(f[1])));
		} else if (f[0] == "invalid-utf8") {
			send_invalid_utf8(ws);
		} else if (f[0] == "close") {
			ws.close(websocket::close_reason(static_cast<websocket::close_code>(std::stoi(f[1])), unhex(f[2])), ec);
			say(ec ? ending(ws, ec) : "closed " + std::to_string(ws.reason().code) + " " + hex(ws.reason().reason));
		} else if (f[0] == "read") {
			for (;;) {
				beast::flat_buffer buffer;
				ws.read(buffer, ec);
				if (ec)
					break;
				std::string data = beast::buffers_to_string(buffer.data());
				say(std::string("message ") + (ws.got_text() ? "text " : "binary ") +
				    std::to_string(data.size()) + " " + fnv(data));
			}
			say(ending(ws, ec));
		}
	}
	say("done");
	return 0;
}

int main(int argc, char **argv)
{
	std::vector<std::string> args(argv + 1, argv + argc);
	if (args.size() == 1 && args[0] == "--version") {
		std::cout << BOOST_BEAST_VERSION_STRING << " (Boost " << BOOST_VERSION / 100000 << "."
			  << BOOST_VERSION / 100 % 1000 << "." << BOOST_VERSION % 100 << ")" << std::endl;
		return 0;
	}
	bool deflate = false;
	size_t read_max = 0;
	std::string protocols;
	std::vector<std::string> rest;
	for (size_t i = 1; i < args.size(); i++) {
		if (args[i] == "--deflate")
			deflate = true;
		else if (args[i] == "--read-max")
			read_max = std::stoul(args[++i]);
		else if (args[i] == "--protocols")
			protocols = args[++i];
		else
			rest.push_back(args[i]);
	}
	try {
		if (!args.empty() && args[0] == "server")
			return server(deflate, read_max);
		if (!args.empty() && args[0] == "client" && !rest.empty())
			return client(rest[0], deflate, read_max, protocols,
				      std::vector<std::string>(rest.begin() + 1, rest.end()));
	} catch (std::exception &e) {
		say("error " + hex(e.what()) + " 0 -");
		return 1;
	}
	std::cerr << "usage: beast-peer --version | server [--deflate] [--read-max N] | client PORT [options] STEP..."
		  << std::endl;
	return 2;
}
