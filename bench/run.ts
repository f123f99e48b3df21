/**
 * Runs the benchmarks: `npm run bench` runs every `bench/*.bench.ts`, each in
 * its own process; `npm run bench -- tcp udp` runs the named ones.
 */
import { spawnSync } from "node:child_process"
import { readdirSync } from "node:fs"
import { dirname, join } from "node:path"
import { fileURLToPath } from "node:url"

const dir = dirname(fileURLToPath(import.meta.url))
const all = readdirSync(dir).filter((f) => f.endsWith(".bench.ts")).map((f) => f.slice(0, -".bench.ts".length)).sort()
const wanted = process.argv.slice(2)
const unknown = wanted.filter((w) => !all.includes(w))
if (unknown.length > 0) {
  process.stderr.write(`unknown bench: ${unknown.join(", ")} (have: ${all.join(", ")})\n`)
  process.exit(2)
}
let failed = false
for (const name of wanted.length > 0 ? wanted : all) {
  const r = spawnSync(process.execPath, ["--expose-gc", join(dir, `${name}.bench.ts`)], { stdio: "inherit" })
  if (r.status !== 0) failed = true
}
process.exit(failed ? 1 : 0)
