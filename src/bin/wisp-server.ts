/** Composition root of wisp-server on Node: builds the runtime ports and hands argv to the CLI. @module */
import { runCLI } from "../core/cli/command.ts";
import { newLogger } from "../core/log/logger.ts";
import { systemClock } from "../core/ports/clock.ts";
import { adminCommands } from "../server/cli/admin_commands.ts";
import { AdminClient } from "../server/cli/admin_client.ts";
import { entryCommands } from "../server/cli/entry_commands.ts";
import { runCommand } from "../server/cli/run.ts";
import { SQLStore } from "../server/datastore/sql/sql_store.ts";
import { exitAfterFlush, nodeCLIEnv } from "../runtime/node/cli_env.ts";
import { nodeFS } from "../runtime/node/fs.ts";
import { nodeHTTPServe } from "../runtime/node/http_serve.ts";
import { logSink } from "../runtime/node/log_sink.ts";
import { SQLiteDriver } from "../runtime/node/sqlite_driver.ts";
import { unixFetch } from "../runtime/node/unix_fetch.ts";
import { InvalidArgumentError } from "../core/errors.ts";

const dial = (socketPath: string) => new AdminClient(unixFetch(socketPath));

const commands = [
  runCommand({
    fs: nodeFS,
    http: nodeHTTPServe,
    clock: systemClock,
    logger: (cfg) => newLogger({ level: cfg.logLevel, sink: logSink({ format: cfg.logFormat, file: cfg.logFile }) }),
    async openDataStore(cfg) {
      if (cfg.databaseType !== "sqlite3") {
        throw new InvalidArgumentError(`datastore type "${cfg.databaseType}" is not supported by this build`);
      }
      return SQLStore.open({ driver: await SQLiteDriver.open(cfg.connectionString), clock: systemClock, codeVersion: "0.1.0" });
    },
  }),
  ...entryCommands(dial),
  ...adminCommands(dial),
];

const env = nodeCLIEnv();
const code = await runCLI({ name: "wisp-server", commands, argv: process.argv.slice(2), env });
exitAfterFlush(code);
