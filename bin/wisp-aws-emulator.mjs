#!/usr/bin/env node
/** Launcher of the local AWS emulator (ACM PCA, KMS, STS) for wisp's tests. @module */
import { register } from "tsx/esm/api";

register();
const { run } = await import("../src/runtime/node/aws_emulator/main.ts");
run();
