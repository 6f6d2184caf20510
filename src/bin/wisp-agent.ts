/** Composition root of wisp-agent on Node and Deno: builds the runtime ports and hands argv to the CLI. @module */
import { type Command, runCLI } from "../core/cli/command.ts";
import { systemClock } from "../core/ports/clock.ts";
import type { ServeGRPC } from "../core/ports/grpc_server.ts";
import type { HTTPServe } from "../core/ports/http_server.ts";
import { exitAfterFlush, nodeCLIEnv } from "../runtime/node/cli_env.ts";
import { nodeFS } from "../runtime/node/fs.ts";
import { selectsOneOf } from "./command_selection.ts";

/** The client commands (Workload API and admin API): everything `api fetch x509` loads. */
async function clientCommands(): Promise<Command[]> {
  const [
    { fetchX509Command },
    { fetchJWTCommand },
    { validateJWTCommand },
    { watchCommand },
    { healthcheckCommand },
    { dialWorkloadAPI },
    { validateCommand },
    { adminCommands },
  ] = await Promise.all([
    import("../agent/cli/fetch_x509.ts"),
    import("../agent/cli/fetch_jwt.ts"),
    import("../agent/cli/validate_jwt.ts"),
    import("../agent/cli/watch.ts"),
    import("../agent/cli/healthcheck.ts"),
    import("../runtime/node/grpc_client.ts"),
    import("../agent/cli/validate.ts"),
    import("../agent/cli/admin_commands.ts"),
  ]);
  return [
    fetchX509Command({ dial: dialWorkloadAPI, fs: nodeFS, clock: systemClock }),
    fetchJWTCommand({ dial: dialWorkloadAPI }),
    validateJWTCommand({ dial: dialWorkloadAPI }),
    watchCommand({ dial: dialWorkloadAPI, clock: systemClock }),
    healthcheckCommand(dialWorkloadAPI),
    validateCommand(nodeFS),
    ...adminCommands(dialWorkloadAPI),
  ];
}

/** `run`: the agent daemon with its attestor, server connection and Workload API server. */
async function runCommandHere(): Promise<Command> {
  const [
    { UnixAttestor },
    { runCommand },
    { newLogger },
    { serveGRPC },
    { logSink },
    { NodeProcFS },
    { nodeServerConnector },
  ] = await Promise.all([
    import("../agent/attestor/unix.ts"),
    import("../agent/cli/run.ts"),
    import("../core/log/logger.ts"),
    import("../runtime/node/grpc_server.ts"),
    import("../runtime/node/log_sink.ts"),
    import("../runtime/node/proc_fs.ts"),
    import("../runtime/node/server_connector.ts"),
  ]);
  // On Deno, SO_PEERCRED is read through Deno's own FFI rather than koffi's N-API addon. Either way the reader gets the
  // fd of a node:net socket: Deno's native unix sockets expose none (node-deno-facts spike 5 (d)). Deno's HTTP/2 also
  // gets the frame guard: without it, two GOAWAY frames in one write can abort the process (denoland/deno#36788).
  const serveGRPCHere: ServeGRPC = async (opts) =>
    "Deno" in globalThis && opts.peerCred === undefined
      ? serveGRPC({ ...opts, peerCred: (await import("../runtime/deno/peer_cred.ts")).peerCredReader(), h2FrameGuard: true })
      : serveGRPC(opts);
  // HTTP (hono's node adapter) serves only the health checks and Prometheus, which most agents leave off.
  const serving = () => import("../runtime/node/http_serve.ts").then((m) => m.nodeHTTPServe);
  const http: HTTPServe = {
    https: async (o) => (await serving()).https(o),
    unix: async (o) => (await serving()).unix(o),
    http: async (o) => (await serving()).http(o),
  };
  return runCommand({
    fs: nodeFS,
    clock: systemClock,
    connector: nodeServerConnector,
    // Only a trust_bundle_url fetches over plain HTTPS.
    httpGet: async (url, init) => (await import("../runtime/node/http_get.ts")).nodeHTTPGet(url, init),
    serveGRPC: serveGRPCHere,
    http,
    logger: (cfg, level) => newLogger({ level, sink: logSink({ format: cfg.logFormat, file: cfg.logFile }) }),
    attestor: (cfg) => {
      const unix = cfg.workloadAttestors.find((a) => a.name === "unix");
      return new UnixAttestor({
        proc: new NodeProcFS(),
        discoverWorkloadPath: unix?.discoverWorkloadPath ?? false,
        workloadSizeLimit: unix?.workloadSizeLimit ?? 0,
      });
    },
  });
}

const argv = process.argv.slice(2);
const client = await clientCommands();
// The daemon's modules (agent, server connector, HTTP and gRPC servers) would more than double a workload's fetch time.
const commands = selectsOneOf(client, argv) ? client : [await runCommandHere(), ...client];
const code = await runCLI({ name: "wisp-agent", commands, argv, env: nodeCLIEnv() });
exitAfterFlush(code);
