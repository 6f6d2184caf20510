#!/usr/bin/env node
// Runs the fresh dist/ bundle, or the TypeScript source through tsx (see _launch.mjs).
import { launch } from "./_launch.mjs";
await launch("wisp-agent");
