#!/bin/sh
# Starts the AWS emulator and publishes its ready line (CA ARNs, credentials) to the shared volume for the others.
set -eu
rm -f /shared/emulator.json
node /wisp/bin/wisp-aws-emulator.mjs -listen 0.0.0.0:4566 -dataDir /var/lib/wisp-aws-emulator -issuanceDelay 2s \
  | tee /shared/emulator.json
