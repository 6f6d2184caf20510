#!/usr/bin/env node
// Launcher: Node 20 cannot run TypeScript itself, so tsx's loader is registered before the real entry point.
import { register } from "tsx/esm/api";
register();
await import("../src/bin/wisp-agent.ts");
