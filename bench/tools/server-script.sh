# Sourced by count.sh, count-warm.sh and profile.sh: sets `script` (node's arguments) for the
# server named $server: ws-stream | ws-stream-net | ws | raw | raw-hs, or a script path.
case $server in
  ws-stream) script=(dist/src/cli/main.js serve --port 0 --quiet) ;;
  ws-stream-net) script=(dist/bench/servers/net-accept-echo.js 0) ;;
  ws) script=(dist/bench/servers/ws-echo.js 0) ;;
  raw) script=(dist/bench/servers/raw-echo.js 0) ;;
  raw-hs) script=(dist/bench/servers/raw-handshake.js 0) ;;
  *) script=("$server" 0) ;;
esac
