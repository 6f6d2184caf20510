#!/bin/sh
# Waits for the server, creates a join token for the agent and the workload's registration entry.
set -eu
SERVER="node /wisp/bin/wisp-server.mjs"
until $SERVER healthcheck -socketPath "$WISP_SERVER_SOCKET" >/dev/null 2>&1; do sleep 1; done
$SERVER token generate -socketPath "$WISP_SERVER_SOCKET" -spiffeID spiffe://example.org/node1 -output json \
  | node -e 'let s = ""; process.stdin.on("data", (d) => (s += d)).on("end", () => process.stdout.write(JSON.parse(s).value))' \
  > /shared/join-token.tmp
mv /shared/join-token.tmp /shared/join-token
$SERVER entry create -socketPath "$WISP_SERVER_SOCKET" -parentID spiffe://example.org/node1 \
  -spiffeID spiffe://example.org/ns/prod/svc/test-workload -selector "unix:uid:$WORKLOAD_UID"
