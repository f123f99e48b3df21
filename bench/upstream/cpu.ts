/**
 * CPU time per suspend/resume cycle (bench/upstream/cycle.ts) for several
 * Effect builds loaded side by side in ONE process, interleaved in short
 * slices with the order rotated every round, so that the shared machine's
 * drift hits every build alike. Reports nanoseconds per cycle (the fastest
 * tenth of 80 slices of 10,000 cycles) and, as bench/harness.ts does, the
 * median over rounds of each build's ratio to the first build's.
 * bench/upstream/run.ts runs it as its `cpu` mode:
 *
 * ```sh
 * node bench/upstream/cpu.ts 4.1.0=/tmp/b/4.1.0 all=/tmp/b/all
 * ```
 */
import * as Path from "node:path"
import { pathToFileURL } from "node:url"
import type * as Cycle from "./cycle.ts"

const builds: Array<{ readonly name: string; readonly loop: Cycle.Loop }> = []
for (const arg of process.argv.slice(2)) {
  const [name, dir] = arg.split("=") as [string, string]
  const cycle = await import(pathToFileURL(Path.join(dir, "bench/upstream/cycle.ts")).href) as typeof Cycle
  builds.push({ name, loop: cycle.makeLoop(process.env.ASYNC_CONTEXT !== "on") })
}
for (const { loop } of builds) loop.cycles(300_000)

// Slices of ~2 ms wall time: thread CPU time is counted in scheduler ticks
// (4 ms here), too coarse, so this takes wall time and reports the fastest
// tenth of slices, the ones no other process interrupted.
const slice = 10_000
const rounds = Number(process.env.CPU_ROUNDS ?? 80)
const ns: Array<Array<number>> = builds.map(() => [])
for (let round = 0; round < rounds; round++) {
  for (let k = 0; k < builds.length; k++) {
    const i = (k + round) % builds.length
    const start = process.hrtime.bigint()
    builds[i]!.loop.cycles(slice)
    ns[i]!.push(Number(process.hrtime.bigint() - start) / slice)
  }
}
for (const { loop } of builds) loop.stop()

const quantile = (xs: ReadonlyArray<number>, q: number): number =>
  [...xs].sort((a, b) => a - b)[Math.floor((xs.length - 1) * q)]!
console.log(JSON.stringify(Object.fromEntries(builds.map(({ name }, i) => [name, {
  ns: quantile(ns[i]!, 0.1),
  ratio: quantile(ns[i]!.map((x, r) => x / ns[0]![r]!), 0.5)
}]))))
