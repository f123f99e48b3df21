/**
 * Makes a build of this repository (committed `src/`, `bench/`, `examples/`)
 * against effect with upstream proposals applied, checks it with
 * bench/upstream/check.ts, and prints its directory, for the real-socket
 * benches to run their fiberloop servers from (`BENCH_FIBERLOOP`). The build is
 * kept: remove it when done.
 *
 * ```sh
 * dir=$(npx node bench/upstream/install.ts all)
 * BENCH_FIBERLOOP=$dir BENCH_ASYNC_CONTEXT=off npm run bench -- tcp resp
 * rm -r "$dir"
 * ```
 */
import { spawnSync } from "node:child_process"
import * as Fs from "node:fs"
import * as Os from "node:os"
import * as Path from "node:path"
import { makeBuild, pick } from "./build.ts"

const name = process.argv[2] ?? "all"
const dir = Path.join(Fs.mkdtempSync(Path.join(Os.tmpdir(), "effect-upstream-")), name)
makeBuild(dir, pick(name), ["src", "bench", "examples"], true)
const check = spawnSync(process.execPath, [Path.join(dir, "bench/upstream/check.ts")], { cwd: dir, encoding: "utf8" })
if (check.status !== 0) {
  Fs.rmSync(Path.dirname(dir), { recursive: true, force: true })
  throw new Error(`build ${name} fails bench/upstream/check.ts: ${check.stderr}`)
}
process.stderr.write(`check ${name}: ${check.stdout.trim()}\n`)
console.log(dir)
