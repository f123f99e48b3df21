#!/usr/bin/env node
// The `fiberloop` command's launcher: the TypeScript source in a checkout (Node 24
// strips its types), the compiled dist/ when installed as a dependency.
import { existsSync } from "node:fs"

const here = new URL(".", import.meta.url)
const dist = new URL("../../dist/cli/main.js", here)
const installed = here.pathname.includes("/node_modules/")
await import(installed && existsSync(dist) ? dist.href : new URL("main.ts", here).href)
