/**
 * A/B benchmark harness: every case measures fiberloop and its baseline in the
 * same process, alternating which goes first each round, and prints the median
 * of each and their ratio against the target.
 */

/** One measured quantity, for fiberloop and for its baseline. */
export interface Case {
  /** What is measured, e.g. "pingpong round trips/s". */
  readonly name: string
  /** Unit printed after the numbers. */
  readonly unit: string
  /** `true` when a bigger number is better (rates); `false` for costs (bytes, µs). */
  readonly higherIsBetter: boolean
  /** The ratio to reach, as fiberloop relative to the baseline (>= for rates, <= for costs). */
  readonly target: number
  /** One measurement of fiberloop. */
  readonly subject: () => Promise<number>
  /** One measurement of the baseline (raw Node, or Effect's own primitive). */
  readonly baseline: () => Promise<number>
}

/** The outcome of one case. */
export interface Result {
  readonly name: string
  readonly subject: number
  readonly baseline: number
  readonly ratio: number
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

/**
 * Runs every case `rounds` times, A/B interleaved, and prints a table.
 *
 * ```ts
 * await compare("tcp", "raw node:net", [{ name: "connect+close/s", unit: "/s", higherIsBetter: true, target: 0.85, subject, baseline }])
 * ```
 */
export const compare = async (
  title: string,
  baselineName: string,
  cases: ReadonlyArray<Case>,
  options?: { readonly rounds?: number | undefined; readonly warmup?: boolean | undefined }
): Promise<Array<Result>> => {
  const rounds = options?.rounds ?? Number(process.env.BENCH_ROUNDS ?? 5)
  const results: Array<Result> = []
  console.log(`\n## ${title}: fiberloop vs ${baselineName} (${rounds} rounds, A/B interleaved, median)\n`)
  console.log(`| case | fiberloop | ${baselineName} | ratio | target | met |`)
  console.log("|---|---|---|---|---|---|")
  for (const c of cases) {
    if (options?.warmup ?? true) {
      await c.subject()
      await c.baseline()
    }
    const a: Array<number> = []
    const b: Array<number> = []
    for (let i = 0; i < rounds; i++) {
      const subjectFirst = i % 2 === 0
      gc()
      if (subjectFirst) a.push(await c.subject())
      else b.push(await c.baseline())
      gc()
      if (subjectFirst) b.push(await c.baseline())
      else a.push(await c.subject())
    }
    const subject = median(a)
    const baseline = median(b)
    const ratio = subject / baseline
    const met = c.higherIsBetter ? ratio >= c.target : ratio <= c.target
    results.push({ name: c.name, subject, baseline, ratio, met })
    console.log(
      `| ${c.name} | ${fmt(subject)} ${c.unit} | ${fmt(baseline)} ${c.unit} | ${ratio.toFixed(2)}x | ${
        c.higherIsBetter ? ">=" : "<="
      } ${c.target}x | ${met ? "yes" : "NO"} |`
    )
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
