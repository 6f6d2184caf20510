#!/usr/bin/env bash
# The main job on the embedded default: a wisp server (self-signed CA, SQLite in ./.data/server), an agent
# attested with a join token, an entry for the current uid, and an X509-SVID fetched, written and verified.
# Usage: npm run demo            (output in ./.data/svid; from a terminal it then keeps the server and agent
#                                running for the web console until Ctrl-C; DEMO_KEEP=0 stops at once, DEMO_KEEP=1
#                                keeps them even without a terminal)
set -euo pipefail
cd "$(dirname "$0")/.."
[ -d node_modules ] || npm ci --no-audit --no-fund
if ! command -v openssl >/dev/null; then
  echo "Error: the demo verifies the SVID with openssl, which is not installed: apt-get install -y openssl" >&2
  exit 1
fi
SERVER="node bin/wisp-server.mjs"
AGENT="node bin/wisp-agent.mjs"
rm -rf .data
mkdir -p .data
pids=()
cleanup() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; wait 2>/dev/null || true; }
trap cleanup EXIT

echo "==> Starting wisp-server (logs: .data/server.log)"
$SERVER run -config conf/server.conf >.data/server.log 2>&1 &
pids+=($!)
for _ in $(seq 1 100); do $SERVER healthcheck >/dev/null 2>&1 && break; sleep 0.2; done
$SERVER healthcheck
CONSOLE_URL=$(sed -n 's/.*msg="Starting console".* url="\{0,1\}\([^" ]*\)"\{0,1\}.*/\1/p' .data/server.log | head -n 1)
echo "==> Web console (read-only): ${CONSOLE_URL:-not enabled in conf/server.conf}"

echo "==> Generating a join token for spiffe://example.org/node1"
TOKEN=$($SERVER token generate -spiffeID spiffe://example.org/node1 -output json | node -e 'let s="";process.stdin.on("data",d=>s+=d).on("end",()=>console.log(JSON.parse(s).value))')

echo "==> Starting wisp-agent (logs: .data/agent.log)"
$AGENT run -config conf/agent.conf -joinToken "$TOKEN" >.data/agent.log 2>&1 &
pids+=($!)
for _ in $(seq 1 100); do $AGENT healthcheck >/dev/null 2>&1 && break; sleep 0.2; done
$AGENT healthcheck

echo "==> Registering this user (uid $(id -u)) as spiffe://example.org/demo"
$SERVER entry create -parentID spiffe://example.org/node1 -spiffeID spiffe://example.org/demo -selector "unix:uid:$(id -u)"
$SERVER agent list

echo "==> Fetching the X509-SVID"
for _ in $(seq 1 50); do $AGENT api fetch x509 -write .data/svid >/dev/null 2>&1 && break; sleep 0.2; done
$AGENT api fetch x509 -write .data/svid

echo "==> openssl verify"
openssl verify -CAfile .data/svid/bundle.0.pem -untrusted .data/svid/svid.0.pem .data/svid/svid.0.pem

if [ -n "${CONSOLE_URL:-}" ] && { [ "${DEMO_KEEP:-}" = 1 ] || { [ -t 0 ] && [ "${DEMO_KEEP:-}" != 0 ]; }; }; then
  echo "==> Server and agent keep running: open ${CONSOLE_URL} (CA chain and rotations, agents, entries, bundle, activity). Ctrl-C stops them."
  wait "${pids[0]}" || true
fi
