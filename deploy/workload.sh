#!/bin/sh
# The workload: fetch its X509-SVID through the Workload API and verify Root → Sub → wisp intermediate → SVID.
set -eu
AGENT="node /wisp/bin/wisp-agent.mjs"
until $AGENT api fetch x509 -socketPath "$WISP_AGENT_SOCKET" -write /tmp/svid; do sleep 1; done
openssl verify -CAfile /tmp/svid/bundle.0.pem -untrusted /tmp/svid/svid.0.pem /tmp/svid/svid.0.pem
