#!/bin/sh
# Starts wisp-agent with the join token the registrar left on the shared volume.
set -eu
until [ -s /shared/join-token ]; do sleep 0.5; done
mkdir -p "$(dirname "$WISP_AGENT_SOCKET")"
chmod 0755 "$(dirname "$WISP_AGENT_SOCKET")"
exec node /wisp/bin/wisp-agent.mjs run -config /wisp/deploy/agent.conf -expandEnv -joinToken "$(cat /shared/join-token)"
