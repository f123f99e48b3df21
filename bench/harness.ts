/**
 * A/B benchmark harness: every case measures fiberloop and its baseline in the
 * same process, alternating which goes first each round, and prints the median
 * of each and their ratio against the issue's target.
 */
import { execFileSync } from "node:child_process"
import { availableParallelism } from "node:os"

/** One measured quantity, for fiberloop and for its baseline. */
export interface Case {
  /** What is measured, e.g. "pingpong round trips/s". */
  readonly name: string
  /** Unit printed after the numbers. */
  readonly unit: string
  /** `true` when a bigger number is better (rates); `false` for costs (bytes, µs). */
  readonly higherIsBetter: boolean
  /** The ratio to reach, as fiberloop relative to the baseline (>= for rates, <= for costs); none: only reported. */
  readonly target: number | undefined
  /** One measurement of fiberloop. */
  readonly subject: () => Promise<number | Sample>
  /** One measurement of the baseline (raw Node, or Effect's own primitive). */
  readonly baseline: () => Promise<number | Sample>
  /** Further quantities the same measurements report (e.g. server CPU per operation), one row each. */
  readonly side?: ReadonlyArray<SideMetric> | undefined
}

/** A measurement with side quantities, keyed as in `Case.side`. */
export interface Sample {
  readonly value: number
  readonly side: Readonly<Record<string, number>>
}

/** A side quantity of a case. */
export interface SideMetric {
  readonly key: string
  readonly name: string
  readonly unit: string
  readonly higherIsBetter: boolean
  readonly target: number | undefined
}

/** The outcome of one case. */
export interface Result {
  readonly name: string
  readonly subject: number
  readonly baseline: number
  readonly ratio: number
  /** The lowest and highest per-round ratio. */
  readonly range: readonly [number, number]
  readonly met: boolean
}

const median = (xs: Array<number>): number => {
  const s = [...xs].sort((a, b) => a - b)
  const mid = s.length >> 1
  return s.length % 2 === 1 ? s[mid]! : (s[mid - 1]! + s[mid]!) / 2
}

const fmt = (n: number): string =>
  n >= 100 ? Math.round(n).toLocaleString("en-US") : n.toFixed(n >= 10 ? 1 : 2)

const gc = (): void => (globalThis as { gc?: () => void }).gc?.()

const valueOf = (x: number | Sample): number => (typeof x === "number" ? x : x.value)
const sideOf = (x: number | Sample, key: string): number => (typeof x === "number" ? NaN : x.side[key] ?? NaN)

/**
 * A ratio to two decimals, or three when two would print the target itself
 * for a ratio that misses it (0.896 against 0.9 reads "0.896x", not "0.90x").
 *
 * ```ts
 * ratioText(0.896, 0.9) // "0.896x"
 * ```
 */
export const ratioText = (ratio: number, target: number): string => {
  const two = ratio.toFixed(2)
  return `${two === target.toFixed(2) && ratio !== target ? ratio.toFixed(3) : two}x`
}

/**
 * Runs every case `rounds` times, A/B interleaved (which side goes first
 * alternates), and prints a table: the median of each side, and as the ratio
 * the median of the per-round ratios: each round's pair ran back to back, so
 * its ratio is not skewed by the machine's load drifting between rounds.
 *
 * ```ts
 * await compare("tcp", "raw node:net", [{ name: "connect+close/s", unit: "/s", higherIsBetter: true, target: 0.85, subject, baseline }])
 * ```
 */
export const compare = async (
  title: string,
  baselineName: string,
  cases: ReadonlyArray<Case>,
  options?: {
    readonly rounds?: number | undefined
    readonly warmup?: boolean | undefined
    /** What the subject is, when not fiberloop (a baseline measured against another). */
    readonly subjectName?: string | undefined
  }
): Promise<Array<Result>> => {
  const rounds = options?.rounds ?? Number(process.env.BENCH_ROUNDS ?? 5)
  const subjectName = options?.subjectName ?? "fiberloop"
  const results: Array<Result> = []
  console.log(`\n## ${title}: ${subjectName} vs ${baselineName} (${rounds} rounds, A/B interleaved, medians)\n`)
  console.log(`| case | ${subjectName} | ${baselineName} | ratio | per-round range | target | met |`)
  console.log("|---|---|---|---|---|---|---|")
  const row = (
    name: string,
    unit: string,
    higherIsBetter: boolean,
    target: number | undefined,
    a: Array<number>,
    b: Array<number>
  ) => {
    const subject = median(a)
    const baseline = median(b)
    const ratios = a.map((x, i) => x / b[i]!)
    const ratio = median(ratios)
    const range = [Math.min(...ratios), Math.max(...ratios)] as const
    const met = target === undefined || (higherIsBetter ? ratio >= target : ratio <= target)
    results.push({ name, subject, baseline, ratio, range, met })
    console.log(
      `| ${name} | ${fmt(subject)} ${unit} | ${fmt(baseline)} ${unit} | ${target === undefined ? `${ratio.toFixed(2)}x` : ratioText(ratio, target)} | ${
        range[0].toFixed(2)
      }–${range[1].toFixed(2)}x | ${
        target === undefined ? "—" : `${higherIsBetter ? ">=" : "<="} ${target}x`
      } | ${target === undefined ? "—" : met ? "yes" : "NO"} |`
    )
  }
  for (const c of cases) {
    if (options?.warmup ?? true) {
      await c.subject()
      await c.baseline()
    }
    const a: Array<number | Sample> = []
    const b: Array<number | Sample> = []
    for (let i = 0; i < rounds; i++) {
      const subjectFirst = i % 2 === 0
      gc()
      if (subjectFirst) a.push(await c.subject())
      else b.push(await c.baseline())
      gc()
      if (subjectFirst) b.push(await c.baseline())
      else a.push(await c.subject())
    }
    row(c.name, c.unit, c.higherIsBetter, c.target, a.map(valueOf), b.map(valueOf))
    for (const m of c.side ?? []) {
      row(m.name, m.unit, m.higherIsBetter, m.target, a.map((x) => sideOf(x, m.key)), b.map((x) => sideOf(x, m.key)))
    }
  }
  return results
}

/** Runs `body` repeatedly for about `millis` and returns operations per second. */
export const opsPerSecond = async (millis: number, body: () => Promise<number>): Promise<number> => {
  const start = performance.now()
  let ops = 0
  while (performance.now() - start < millis) ops += await body()
  return (ops * 1000) / (performance.now() - start)
}

const canPin = ((): boolean => {
  try {
    return availableParallelism() >= 2 && execFileSync("taskset", ["-p", String(process.pid)]).length > 0
  } catch {
    return false
  }
})()

/**
 * The command that starts a benchmark server process: pinned to core 1 when
 * `taskset` exists and there are two cores, with this (load) process pinned
 * to core 0, so the server has a core to itself and every measurement runs on
 * the same placement. Without `taskset`, plain `node`.
 *
 * ```ts
 * const [command, args] = serverCommand(["--expose-gc", "bench/tcp-server.ts", "raw"])
 * ```
 */
export const serverCommand = (args: ReadonlyArray<string>): [string, Array<string>] => {
  const all = [...serverArgs, ...args]
  if (!canPin) return [process.execPath, all]
  execFileSync("taskset", ["-p", "-c", "0", String(process.pid)])
  return ["taskset", ["-c", "1", process.execPath, ...all]]
}

/**
 * Extra node arguments for every server process, from BENCH_SERVER_ARGS (split
 * at spaces), e.g. `--import ./bench/upstream/no-async-resource.mjs` to measure
 * an upstream proposal's effect on a bench.
 */
const serverArgs = (process.env.BENCH_SERVER_ARGS ?? "").split(" ").filter((arg) => arg.length > 0)
