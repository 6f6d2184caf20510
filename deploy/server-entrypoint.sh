#!/bin/sh
# Reads the emulator's ready line, exports its credentials and subordinate CA ARN, and runs wisp-server.
set -eu
until [ -s /shared/emulator.json ]; do sleep 0.5; done
field() { node -e 'const i = JSON.parse(require("fs").readFileSync("/shared/emulator.json", "utf8").split("\n")[0]); process.stdout.write(i[process.argv[1]])' "$1"; }
export AWS_ACCESS_KEY_ID="$(field accessKeyId)"
export AWS_SECRET_ACCESS_KEY="$(field secretAccessKey)"
export WISP_PCA_ARN="$(field subordinateCaArn)"
exec node /wisp/bin/wisp-server.mjs run -config /wisp/deploy/server.conf -expandEnv
