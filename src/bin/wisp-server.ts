/** Composition root of wisp-server on Node and Deno: builds the runtime ports and hands argv to the CLI. @module */
import { type Command, runCLI } from "../core/cli/command.ts";
import type { PeerCredReader, ServeGRPC } from "../core/ports/grpc_server.ts";
import { systemClock } from "../core/ports/clock.ts";
import { adminCommands } from "../server/cli/admin_commands.ts";
import { agentCommands } from "../server/cli/agent_commands.ts";
import { configCommands } from "../server/cli/config_commands.ts";
import { AdminClient } from "../server/cli/admin_client.ts";
import { entryCommands } from "../server/cli/entry_commands.ts";
import { bundleCommands } from "../server/cli/bundle_commands.ts";
import { federationCommands } from "../server/cli/federation_commands.ts";
import { authorityCommands } from "../server/cli/authority_commands.ts";
import { loggerCommands } from "../server/cli/logger_commands.ts";
import { mintCommands } from "../server/cli/mint_commands.ts";
import { exitAfterFlush, nodeCLIEnv } from "../runtime/node/cli_env.ts";
import { nodeFS } from "../runtime/node/fs.ts";
import { unixFetch } from "../runtime/node/unix_fetch.ts";
import type { WorkloadAPIClient } from "../runtime/node/grpc_client.ts";
import { resolve } from "node:path";
import { selectsOneOf } from "./command_selection.ts";
import { validateCommand } from "../server/cli/validate.ts";

/** The CLI's connection to the admin socket: SPIRE's gRPC API, and the JSON API for what gRPC does not carry. */
const dial = (socketPath: string) => {
  let conn: Promise<WorkloadAPIClient> | undefined;
  const unary = async (path: string, req: Uint8Array) => {
    // grpc-js loads only for commands that use it; a relative socket path is made absolute for the unix: target.
    conn ??= import("../runtime/node/grpc_client.ts").then((m) => m.dialWorkloadAPI(resolve(socketPath)));
    return (await conn).unary(path, req, {}, 60_000);
  };
  return new AdminClient(unixFetch(socketPath), socketPath, unary);
};

/** `run`: the server daemon with its datastore, HTTP servers and plugins (the AWS SDK among them). */
async function runCommandHere(): Promise<Command> {
  const [
    { newLogger },
    { runCommand },
    { SQLStore },
    { nodeHTTPServe },
    { logSink },
    { SQLiteDriver },
    { serverPlugins },
    { nodeServerConnector },
    { nodeHTTPGet },
    { serveGRPCTLS },
    { serveGRPC },
  ] = await Promise.all([
    import("../core/log/logger.ts"),
    import("../server/cli/run.ts"),
    import("../server/datastore/sql/sql_store.ts"),
    import("../runtime/node/http_serve.ts"),
    import("../runtime/node/log_sink.ts"),
    import("../runtime/node/sqlite_driver.ts"),
    import("./server_plugins.ts"),
    import("../runtime/node/server_connector.ts"),
    import("../runtime/node/http_get.ts"),
    import("../runtime/node/grpc_tls_server.ts"),
    import("../runtime/node/grpc_server.ts"),
  ]);
  // As the agent does: on Deno, SO_PEERCRED through Deno's FFI, and Deno's HTTP/2 behind the frame guard.
  // The admin socket serves callers whose credentials cannot be read, so a missing FFI permission is no reason to stop.
  const serveGRPCHere: ServeGRPC = async (opts) => {
    if (!("Deno" in globalThis) || opts.peerCred !== undefined) return serveGRPC(opts);
    let peerCred: PeerCredReader;
    try {
      peerCred = (await import("../runtime/deno/peer_cred.ts")).peerCredReader();
    } catch (err) {
      if (opts.requirePeer !== false) throw err;
      peerCred = () => {
        throw err;
      };
    }
    return serveGRPC({ ...opts, peerCred, h2FrameGuard: true });
  };
  return runCommand({
    fs: nodeFS,
    http: nodeHTTPServe,
    // Deno's HTTP/2 aborts the process on some malformed frames (denoland/deno#36788): its connections get the guard.
    grpcTLS: (opts) => serveGRPCTLS({ ...opts, h2FrameGuard: "Deno" in globalThis }),
    serveGRPC: serveGRPCHere,
    clock: systemClock,
    connector: nodeServerConnector,
    httpGet: nodeHTTPGet,
    ...serverPlugins({ fs: nodeFS, clock: systemClock, env: process.env }),
    logger: (cfg, level) => newLogger({ level, sink: logSink({ format: cfg.logFormat, file: cfg.logFile }) }),
    async openDataStore(cfg) {
      // postgres.js loads only for a server configured with it.
      const driver = cfg.databaseType === "postgres"
        ? await (await import("../runtime/node/postgres_driver.ts")).PostgresDriver.open({
          connectionString: cfg.connectionString,
          ...(cfg.roConnectionString === undefined ? {} : { roConnectionString: cfg.roConnectionString }),
          ...(cfg.maxOpenConns === undefined ? {} : { maxOpenConns: cfg.maxOpenConns }),
          ...(cfg.maxIdleConns === undefined ? {} : { maxIdleConns: cfg.maxIdleConns }),
          ...(cfg.connMaxLifetime === undefined ? {} : { connMaxLifetimeMs: cfg.connMaxLifetime }),
        })
        : await SQLiteDriver.open(cfg.connectionString);
      return SQLStore.open({ driver, clock: systemClock, codeVersion: "0.1.0" });
    },
  });
}

const argv = process.argv.slice(2);
const client = [
  ...entryCommands(dial, nodeFS),
  ...mintCommands(dial, nodeFS),
  ...authorityCommands(dial),
  ...loggerCommands(dial),
  ...agentCommands(dial, systemClock),
  ...adminCommands(dial),
  ...configCommands(dial, nodeFS),
  ...bundleCommands(dial, nodeFS),
  ...federationCommands(dial, nodeFS),
  validateCommand(nodeFS),
];
// CLI calls (entry create, token generate, healthcheck) skip the daemon's modules: on Node they took most of a call's time.
const commands = selectsOneOf(client, argv) ? client : [await runCommandHere(), ...client];
const code = await runCLI({ name: "wisp-server", commands, argv, env: nodeCLIEnv() });
exitAfterFlush(code);
