/**
 * Measures the upstream proposals (docs/performance.md, "Upstream proposals"): builds, in
 * a temporary directory, one copy of the repository per Effect build (4.1.0
 * as shipped, each proposal alone, all together), each with its own copy of
 * `effect` patched by bench/upstream/patches.ts and the committed `src/`
 * (git HEAD; other work in progress is left out), checks each with
 * bench/upstream/check.ts, and runs bench/upstream/measure.ts in each. node_modules is
 * never modified.
 *
 * ```sh
 * npx node bench/upstream/run.ts              # heap alloc cpu tcp, every build
 * npx node bench/upstream/run.ts heap alloc   # some modes
 * KEEP=1 npx node bench/upstream/run.ts       # keep the builds, print where
 * ```
 */
import { spawnSync } from "node:child_process"
import * as Fs from "node:fs"
import * as Os from "node:os"
import * as Path from "node:path"
import { makeBuild, pick, repo } from "./build.ts"
import { type Patch, patches } from "./patches.ts"

const root = Fs.mkdtempSync(Path.join(Os.tmpdir(), "effect-upstream-"))
// Removed on every exit, failures included, unless KEEP=1.
process.on("exit", () => {
  if (process.env.KEEP === "1") console.log(`builds kept in ${root}`)
  else Fs.rmSync(root, { recursive: true, force: true })
})

const build = (name: string, chosen: ReadonlyArray<Patch>): string => {
  const dir = Path.join(root, name)
  makeBuild(dir, chosen, ["src"])
  for (const file of ["measure.ts", "check.ts", "cycle.ts", "breakdown.ts"]) {
    Fs.cpSync(Path.join(repo, "bench/upstream", file), Path.join(dir, "bench/upstream", file))
  }
  return dir
}

// BUILDS="4.1.0,a,b+c" picks builds; the default is 4.1.0, each patch alone, and all.
const builds = (process.env.BUILDS ?? ["4.1.0", ...patches.map((p) => p.name), "all"].join(","))
  .split(",")
  .map((name) => [name, pick(name)] as const)

const flags: Record<string, ReadonlyArray<string>> = {
  heap: ["--expose-gc"],
  tcp: ["--expose-gc"],
  alloc: ["--expose-gc", "--min-semi-space-size=256", "--max-semi-space-size=256"],
  cpu: []
}
const modes = process.argv.length > 2 ? process.argv.slice(2) : ["heap", "alloc", "cpu", "tcp"]
for (const mode of modes) if (flags[mode] === undefined) throw new Error(`unknown mode ${mode}`)

const dirs = builds.map(([name, chosen]) => [name, build(name, chosen)] as const)
for (const [name, dir] of dirs) {
  const r = spawnSync(process.execPath, [Path.join(dir, "bench/upstream/check.ts")], { cwd: dir, encoding: "utf8" })
  if (r.status !== 0) throw new Error(`${name} fails bench/upstream/check.ts: ${r.stderr}`)
  process.stderr.write(`check ${name}: ${r.stdout.trim()}\n`)
}
const results: Record<string, Record<string, Array<number>>> = {}
// Interleave builds within each round so drift on a shared machine hits all alike.
const rounds = Number(process.env.ROUNDS ?? 3)
const record = (name: string, key: string, value: number): void => {
  const byKey = results[name] ??= {}
  ;(byKey[key] ??= []).push(value)
}
for (const mode of modes) {
  if (mode === "cpu") {
    // All builds in one process (bench/upstream/cpu.ts), ROUNDS processes.
    for (let round = 0; round < rounds; round++) {
      const r = spawnSync(process.execPath, [
        Path.join(repo, "bench/upstream/cpu.ts"),
        ...dirs.map(([name, dir]) => `${name}=${dir}`)
      ], { encoding: "utf8" })
      if (r.status !== 0) throw new Error(`cpu: ${r.stderr}`)
      const line = JSON.parse(r.stdout.trim().split("\n").pop()!) as Record<string, { ns: number; ratio: number }>
      for (const [name] of dirs) {
        record(name, "cpu", line[name]!.ns)
        record(name, "cpu-ratio", line[name]!.ratio)
        process.stderr.write(`cpu round ${round} ${name}: ${line[name]!.ns.toFixed(1)} ns, x${line[name]!.ratio.toFixed(3)}\n`)
      }
    }
    continue
  }
  for (let round = 0; round < (mode === "tcp" ? Math.min(rounds, 2) : rounds); round++) {
    for (const [name, dir] of dirs) {
      const r = spawnSync(process.execPath, [...flags[mode]!, Path.join(dir, "bench/upstream/measure.ts"), mode], {
        cwd: dir,
        encoding: "utf8"
      })
      if (r.status !== 0) throw new Error(`${name} ${mode}: ${r.stderr}`)
      const line = JSON.parse(r.stdout.trim().split("\n").pop()!) as { bytes: number }
      record(name, mode, line.bytes)
      process.stderr.write(`${mode} round ${round} ${name}: ${line.bytes.toFixed(1)}\n`)
    }
  }
}

const median = (xs: ReadonlyArray<number>): number => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!
const unit: Record<string, string> = { heap: "B/fiber", tcp: "B/conn", alloc: "B/cycle", cpu: "ns/cycle" }
const header = ["build", ...modes.map((m) => `${m} (${unit[m]})`)]
const rows = dirs.map(([name]) =>
  [name, ...modes.map((m) => {
    const v = median(results[name]![m]!)
    if (m === "cpu") return `${v.toFixed(1)} (x${median(results[name]!["cpu-ratio"]!).toFixed(2)})`
    const baseRuns = results["4.1.0"]?.[m]
    if (name === "4.1.0" || baseRuns === undefined) return v.toFixed(1)
    const delta = v - median(baseRuns)
    return `${v.toFixed(1)} (${delta >= 0 ? "+" : ""}${delta.toFixed(1)})`
  })]
)
console.log(`| ${header.join(" | ")} |`)
console.log(`| ${header.map(() => "---").join(" | ")} |`)
for (const row of rows) console.log(`| ${row.join(" | ")} |`)
