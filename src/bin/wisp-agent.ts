/** Composition root of wisp-agent on Node: builds the runtime ports and hands argv to the CLI. @module */
import { UnixAttestor } from "../agent/attestor/unix.ts";
import { fetchJWTCommand } from "../agent/cli/fetch_jwt.ts";
import { fetchX509Command } from "../agent/cli/fetch_x509.ts";
import { healthcheckCommand } from "../agent/cli/healthcheck.ts";
import { runCommand } from "../agent/cli/run.ts";
import { validateJWTCommand } from "../agent/cli/validate_jwt.ts";
import { watchCommand } from "../agent/cli/watch.ts";
import { runCLI } from "../core/cli/command.ts";
import { newLogger } from "../core/log/logger.ts";
import { systemClock } from "../core/ports/clock.ts";
import { exitAfterFlush, nodeCLIEnv } from "../runtime/node/cli_env.ts";
import { nodeFS } from "../runtime/node/fs.ts";
import { dialWorkloadAPI } from "../runtime/node/grpc_client.ts";
import { serveGRPC } from "../runtime/node/grpc_server.ts";
import { nodeHTTPServe } from "../runtime/node/http_serve.ts";
import { logSink } from "../runtime/node/log_sink.ts";
import { NodeProcFS } from "../runtime/node/proc_fs.ts";
import { nodeServerConnector } from "../runtime/node/server_connector.ts";

const commands = [
  runCommand({
    fs: nodeFS,
    clock: systemClock,
    connector: nodeServerConnector,
    serveGRPC,
    http: nodeHTTPServe,
    logger: (cfg) => newLogger({ level: cfg.logLevel, sink: logSink({ format: cfg.logFormat, file: cfg.logFile }) }),
    attestor: (cfg) => {
      const unix = cfg.workloadAttestors.find((a) => a.name === "unix");
      return new UnixAttestor({
        proc: new NodeProcFS(),
        discoverWorkloadPath: unix?.discoverWorkloadPath ?? false,
        workloadSizeLimit: unix?.workloadSizeLimit ?? 0,
      });
    },
  }),
  fetchX509Command({ dial: dialWorkloadAPI, fs: nodeFS, clock: systemClock }),
  fetchJWTCommand({ dial: dialWorkloadAPI }),
  validateJWTCommand({ dial: dialWorkloadAPI }),
  watchCommand({ dial: dialWorkloadAPI, clock: systemClock }),
  healthcheckCommand(dialWorkloadAPI),
];

const env = nodeCLIEnv();
const code = await runCLI({ name: "wisp-agent", commands, argv: process.argv.slice(2), env });
exitAfterFlush(code);
