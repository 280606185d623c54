// A gorilla/websocket peer for the interoperability tests (gorilla.test.ts builds it with Debian's Go, offline, into
// dist/): the same command line and lines on stdout as beast-peer.cpp (see there), strings that may hold spaces in
// hex. Unlike Beast, gorilla cuts a message into frames of its write buffer's size whatever the writes, so FRAGMENT
// only says how the message is written; `--write-buffer N` sets that size.
package main

import (
	"bytes"
	"encoding/hex"
	"errors"
	"fmt"
	"hash/fnv"
	"io"
	"net"
	"net/http"
	"os"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/gorilla/websocket"
)

var outMutex sync.Mutex

func say(format string, a ...interface{}) {
	outMutex.Lock()
	defer outMutex.Unlock()
	fmt.Printf(format+"\n", a...)
}

func hexOf(s string) string {
	if s == "" {
		return "-"
	}
	return hex.EncodeToString([]byte(s))
}

func unhex(s string) string {
	if s == "-" {
		return ""
	}
	b, err := hex.DecodeString(s)
	if err != nil {
		panic(err)
	}
	return string(b)
}

func fnvOf(b []byte) string {
	h := fnv.New32a()
	h.Write(b)
	return fmt.Sprintf("%08x", h.Sum32())
}

// The same octets as edge.ts's payload(): each 600-octet block is one 300-octet pattern twice.
func payload(size int, seed uint32, text bool) []byte {
	out := make([]byte, size)
	x := seed
	for i := 0; i < size; i++ {
		if i%600 == 0 {
			x = x*1103515245 + 12345
		}
		v := ((x >> uint((i%300)%24)) + uint32(i%300)) & 0xff
		if text {
			out[i] = byte(0x61 + v%26)
		} else {
			out[i] = byte(v)
		}
	}
	return out
}

func atoi(s string) int {
	n, err := strconv.Atoi(s)
	if err != nil {
		panic(err)
	}
	return n
}

func kindOf(text bool) int {
	if text {
		return websocket.TextMessage
	}
	return websocket.BinaryMessage
}

func typeName(kind int) string {
	if kind == websocket.TextMessage {
		return "text"
	}
	return "binary"
}

func sendPayload(c *websocket.Conn, text bool, data []byte, fragment int) error {
	if fragment == 0 || len(data) == 0 {
		return c.WriteMessage(kindOf(text), data)
	}
	w, err := c.NextWriter(kindOf(text))
	if err != nil {
		return err
	}
	for at := 0; at < len(data); at += fragment {
		end := at + fragment
		if end > len(data) {
			end = len(data)
		}
		if _, err := w.Write(data[at:end]); err != nil {
			return err
		}
	}
	return w.Close()
}

func sendInvalidUTF8(c *websocket.Conn) error {
	return c.WriteMessage(websocket.TextMessage, []byte("not \xff\xfe UTF-8"))
}

// "closed CODE REASON" when the peer's close frame ended the reads, else "error WHAT 0 -".
func ending(err error) string {
	var ce *websocket.CloseError
	if errors.As(err, &ce) {
		return fmt.Sprintf("closed %d %s", ce.Code, hexOf(ce.Text))
	}
	return fmt.Sprintf("error %s 0 -", hexOf(err.Error()))
}

// Closes with CODE and REASON, then reads until the peer's answer: its ending.
func closeWith(c *websocket.Conn, code int, reason string) string {
	if err := c.WriteMessage(websocket.CloseMessage, websocket.FormatCloseMessage(code, reason)); err != nil {
		return ending(err)
	}
	for {
		if _, _, err := c.ReadMessage(); err != nil {
			return ending(err)
		}
	}
}

// Ends the connection as RFC 6455 §7.1.1 has a server do, TCP first, but without losing what gorilla already wrote:
// gorilla's reads end at its first error (after a read limit, with the close 1009 sent and nothing read after it), and
// closing a socket with the rest of the peer's message unread sends a reset, which may beat that close frame. So: FIN,
// then read and drop until the peer closes too.
func linger(c *websocket.Conn) {
	conn := c.UnderlyingConn()
	if tcp, ok := conn.(*net.TCPConn); ok {
		tcp.CloseWrite()
		io.Copy(io.Discard, conn)
	}
	conn.Close()
}

type options struct {
	deflate     bool
	readMax     int64
	writeBuffer int
	protocols   string
}

func serve(o options) {
	upgrader := websocket.Upgrader{
		Subprotocols:      []string{"chat", "superchat"},
		EnableCompression: o.deflate,
		WriteBufferSize:   o.writeBuffer,
		CheckOrigin:       func(*http.Request) bool { return true },
	}
	var mu sync.Mutex
	count := 0
	handler := func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		count++
		k := strconv.Itoa(count)
		mu.Unlock()
		c, err := upgrader.Upgrade(w, r, nil)
		if err != nil {
			say("%s refused %s", k, hexOf(err.Error()))
			return
		}
		defer linger(c)
		if o.readMax > 0 {
			c.SetReadLimit(o.readMax)
		}
		c.SetPongHandler(func(p string) error {
			say("%s pong %s", k, hexOf(p))
			return nil
		})
		// gorilla's Conn gives no access to its 101: the test reads the extensions off the wire.
		say("%s open %s ?", k, hexOf(c.Subprotocol()))
		for {
			kind, data, err := c.ReadMessage()
			if err != nil {
				say("%s %s", k, ending(err))
				return
			}
			say("%s message %s %d %s", k, typeName(kind), len(data), fnvOf(data))
			var words []string
			if kind == websocket.TextMessage {
				words = strings.Split(string(data), " ")
			}
			switch {
			case len(words) == 3 && words[0] == "cmd:close":
				say("%s %s", k, closeWith(c, atoi(words[1]), unhex(words[2])))
				return
			case len(words) == 2 && words[0] == "cmd:ping":
				err = c.WriteControl(websocket.PingMessage, []byte(unhex(words[1])), time.Time{})
			case len(words) == 5 && words[0] == "cmd:send":
				text := words[1] == "text"
				err = sendPayload(c, text, payload(atoi(words[2]), uint32(atoi(words[3])), text), atoi(words[4]))
			case len(words) == 1 && words[0] == "cmd:invalid-utf8":
				err = sendInvalidUTF8(c)
			default:
				err = c.WriteMessage(kind, data)
			}
			if err != nil {
				say("%s %s", k, ending(err))
				return
			}
		}
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		panic(err)
	}
	say("listening %d gorilla/websocket", ln.Addr().(*net.TCPAddr).Port)
	panic(http.Serve(ln, http.HandlerFunc(handler)))
}

func client(port string, o options, steps []string) {
	dialer := websocket.Dialer{EnableCompression: o.deflate, WriteBufferSize: o.writeBuffer}
	if o.protocols != "" {
		dialer.Subprotocols = strings.Split(o.protocols, ",")
	}
	c, resp, err := dialer.Dial("ws://127.0.0.1:"+port+"/", nil)
	if err != nil {
		say("error %s 0 -", hexOf(err.Error()))
		os.Exit(1)
	}
	defer c.Close()
	if o.readMax > 0 {
		c.SetReadLimit(o.readMax)
	}
	c.SetPingHandler(func(p string) error {
		say("ping %s", hexOf(p))
		return c.WriteControl(websocket.PongMessage, []byte(p), time.Time{})
	})
	c.SetPongHandler(func(p string) error {
		say("pong %s", hexOf(p))
		return nil
	})
	say("open %s %s", hexOf(resp.Header.Get("Sec-WebSocket-Protocol")), hexOf(resp.Header.Get("Sec-WebSocket-Extensions")))
	must := func(err error) {
		if err != nil {
			say("%s", ending(err))
			os.Exit(1)
		}
	}
	for _, step := range steps {
		f := strings.Split(step, ":")
		switch f[0] {
		case "send", "push":
			text := f[1] == "text"
			data := payload(atoi(f[2]), uint32(atoi(f[3])), text)
			must(sendPayload(c, text, data, atoi(f[4])))
			if f[0] == "push" {
				continue
			}
			kind, echo, err := c.ReadMessage()
			must(err)
			verdict := "bad"
			if kind == kindOf(text) && bytes.Equal(echo, data) {
				verdict = "ok"
			}
			say("echo %s %s %s", f[1], f[2], verdict)
		case "ping":
			must(c.WriteControl(websocket.PingMessage, []byte(unhex(f[1])), time.Time{}))
			must(c.WriteMessage(websocket.TextMessage, []byte("after the ping")))
			_, _, err := c.ReadMessage()
			must(err)
			say("echo after-ping")
		case "say":
			must(c.WriteMessage(websocket.TextMessage, []byte(unhex(f[1]))))
		case "invalid-utf8":
			must(sendInvalidUTF8(c))
		case "close":
			say("%s", closeWith(c, atoi(f[1]), unhex(f[2])))
		case "read":
			for {
				kind, data, err := c.ReadMessage()
				if err != nil {
					say("%s", ending(err))
					break
				}
				say("message %s %d %s", typeName(kind), len(data), fnvOf(data))
			}
		}
	}
	say("done")
}

func main() {
	args := os.Args[1:]
	if len(args) == 1 && args[0] == "--version" {
		fmt.Println("gorilla/websocket 1.5.0 (Debian's golang-github-gorilla-websocket-dev)")
		return
	}
	var o options
	var rest []string
	for i := 1; i < len(args); i++ {
		switch args[i] {
		case "--deflate":
			o.deflate = true
		case "--read-max":
			i++
			o.readMax = int64(atoi(args[i]))
		case "--write-buffer":
			i++
			o.writeBuffer = atoi(args[i])
		case "--protocols":
			i++
			o.protocols = args[i]
		default:
			rest = append(rest, args[i])
		}
	}
	if len(args) > 0 && args[0] == "server" {
		serve(o)
	} else if len(args) > 0 && args[0] == "client" && len(rest) > 0 {
		client(rest[0], o, rest[1:])
	} else {
		fmt.Fprintln(os.Stderr, "usage: gorilla-peer --version | server [options] | client PORT [options] STEP...")
		os.Exit(2)
	}
}
