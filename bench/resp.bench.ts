/**
 * RESP under Debian's redis-benchmark: examples/resp-server.ts (fiberloop,
 * one `send` per reply; its `commands` decoder, and its read-pattern
 * handler) vs the same server on raw `node:net`
 * (bench/resp-raw-server.ts, one write per 'data' event) vs redis-server
 * itself, A/B/C/D interleaved (the order rotates each round), each measurement
 * on a fresh server process pinned to core 1 (`serverCommand`), with
 * redis-benchmark pinned with this process to core 0. Cases: 50 clients
 * without pipelining and with `-P 16`, `-t set,get`. Reported: requests/s
 * (SET and GET together), and server CPU per request from /proc/<pid>/stat
 * (utime + stime, the same measure for all three). Ratios are medians of
 * per-round ratios; the target is fiberloop >= 0.9x raw node.
 *
 *   BENCH_ROUNDS=3 npm run bench -- resp
 *   (BENCH_N, BENCH_N_PIPELINED: requests per test, defaults 50000 and 500000)
 *
 * `BENCH_FIBERLOOP=<dir>` runs the two fiberloop servers from a build made by
 * bench/upstream/install.ts (this repository against effect with upstream
 * proposals applied); the raw and redis servers stay as they are.
 */
import { execFileSync, spawn } from "node:child_process"
import { mkdtempSync, readFileSync, rmSync } from "node:fs"
import * as Net from "node:net"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { createInterface } from "node:readline"
import { ratioText, serverCommand } from "./harness.ts"

const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 3)
const N = Number(process.env.BENCH_N ?? 50_000)
const N_PIPELINED = Number(process.env.BENCH_N_PIPELINED ?? 500_000)
/** A redis-benchmark run that takes longer than this is a hang, not a measurement. */
const RUN_TIMEOUT_MILLIS = 120_000
const TARGET = 0.9
const serverScript = new URL("./resp-process.ts", import.meta.url).pathname
const fiberloopDir = process.env.BENCH_FIBERLOOP
/** The fiberloop servers' script: this checkout's, or a BENCH_FIBERLOOP build's. */
const fiberloopScript = fiberloopDir === undefined ? serverScript : join(fiberloopDir, "bench/resp-process.ts")

for (const tool of ["redis-server", "redis-benchmark"]) {
  try {
    execFileSync("sh", ["-c", `command -v ${tool}`])
  } catch {
    throw new Error(`${tool} is not installed: apt-get install redis-server redis-tools`)
  }
}

const dir = mkdtempSync(join(tmpdir(), "fiberloop-resp-bench-"))
process.on("exit", () => rmSync(dir, { recursive: true, force: true }))
const ticksPerSecond = Number(execFileSync("getconf", ["CLK_TCK"]).toString().trim())

/** CPU time of process `pid` so far (user + system), in µs. */
const cpuMicros = (pid: number): number => {
  const stat = readFileSync(`/proc/${pid}/stat`, "utf8")
  // fields after the command name (which may hold spaces), from field 3 on: utime is 14, stime 15
  const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ")
  return ((Number(fields[11]) + Number(fields[12])) * 1e6) / ticksPerSecond
}

const freePort = (): Promise<number> =>
  new Promise((resolve) => {
    const server = Net.createServer().listen(0, "127.0.0.1", () => {
      const { port } = server.address() as Net.AddressInfo
      server.close(() => resolve(port))
    })
  })

type Kind = "fiberloop" | "patterns" | "raw" | "redis"
const kinds: ReadonlyArray<Kind> = ["fiberloop", "patterns", "raw", "redis"]

/** Starts a server of `kind` pinned like every bench server, runs `body` with its port and pid, kills it. */
const withServer = async <A>(kind: Kind, body: (port: number, pid: number) => Promise<A>): Promise<A> => {
  const script = kind === "fiberloop" || kind === "patterns" ? fiberloopScript : serverScript
  const [command, args] = serverCommand(["--expose-gc", script, kind])
  const redisPort = kind === "redis" ? await freePort() : 0
  const redisArgs = [
    "--port", String(redisPort), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no", "--dir", dir
  ]
  // serverCommand decides the pinning; for redis-server, the same command with redis-server in node's place
  const child = kind !== "redis"
    ? spawn(command, args, { stdio: ["pipe", "pipe", "inherit"] })
    : command === "taskset"
    ? spawn("taskset", [...args.slice(0, 2), "redis-server", ...redisArgs], { stdio: ["ignore", "pipe", "inherit"] })
    : spawn("redis-server", redisArgs, { stdio: ["ignore", "pipe", "inherit"] })
  try {
    const port = await new Promise<number>((resolve, reject) => {
      createInterface({ input: child.stdout! }).on("line", (line) => {
        if (kind !== "redis") resolve(JSON.parse(line).port)
        else if (/Ready to accept connections/.test(line)) resolve(redisPort)
      })
      child.once("error", reject)
      child.once("exit", (code) => reject(new Error(`${kind} server exited with ${code}`)))
    })
    return await body(port, child.pid!)
  } finally {
    child.kill()
  }
}

/** One redis-benchmark run: SET and GET, `n` requests each; the requests/s of each. */
const redisBenchmark = (port: number, n: number, pipeline: number): Promise<{ set: number; get: number }> =>
  new Promise((resolve, reject) => {
    const child = spawn("redis-benchmark", [
      "-h", "127.0.0.1", "-p", String(port), "-c", "50", "-n", String(n), "-P", String(pipeline),
      "-q", "--csv", "-t", "set,get"
    ], { stdio: ["ignore", "pipe", "pipe"] })
    let out = ""
    let err = ""
    child.stdout.on("data", (chunk: Buffer) => out += chunk.toString())
    child.stderr.on("data", (chunk: Buffer) => err += chunk.toString())
    const timer = setTimeout(() => child.kill(), RUN_TIMEOUT_MILLIS)
    child.once("error", reject)
    child.once("exit", (code) => {
      clearTimeout(timer)
      const rps = (test: string) => Number(new RegExp(`^"${test}","([\\d.]+)"`, "m").exec(out)?.[1])
      const result = { set: rps("SET"), get: rps("GET") }
      if (code !== 0 || !(result.set > 0 && result.get > 0) || err.includes("CONFIG")) {
        reject(new Error(`redis-benchmark exited with ${code}\n${out}${err}`))
      } else resolve(result)
    })
  })

interface Measure {
  readonly rps: number
  readonly cpuMicrosPerRequest: number
}

const measure = (kind: Kind, n: number, pipeline: number): Promise<Measure> =>
  withServer(kind, async (port, pid) => {
    await redisBenchmark(port, Math.ceil(n / 10), pipeline) // warm up: JIT, connections
    const before = cpuMicros(pid)
    const { get, set } = await redisBenchmark(port, n, pipeline)
    const cpu = cpuMicros(pid) - before
    // both tests ran n requests: the combined rate is 2n over the time they took together
    return { rps: (2 * n) / (n / set + n / get), cpuMicrosPerRequest: cpu / (2 * n) }
  })

const median = (xs: ReadonlyArray<number>): number => {
  const s = [...xs].sort((a, b) => a - b)
  const mid = s.length >> 1
  return s.length % 2 === 1 ? s[mid]! : (s[mid - 1]! + s[mid]!) / 2
}

const fmt = (n: number): string => n >= 100 ? Math.round(n).toLocaleString("en-US") : n.toFixed(n >= 10 ? 1 : 2)

console.log(
  `\n## RESP under redis-benchmark: fiberloop example vs raw node:net vs redis-server ` +
    `(${ROUNDS} rounds, A/B/C/D interleaved, medians)\n`
)
console.log(
  `| case | fiberloop (decoder) | fiberloop (read patterns) | raw node | redis-server | decoder vs raw (target >= ${TARGET}x) | per-round range | patterns vs raw | per-round range | decoder vs redis-server |`
)
console.log("|---|---|---|---|---|---|---|---|---|---|")
const cases = [
  { name: `-c 50 -t set,get, no pipelining (n=${N})`, n: N, pipeline: 1 },
  { name: `-c 50 -t set,get, -P 16 (n=${N_PIPELINED})`, n: N_PIPELINED, pipeline: 16 }
]
const verdicts: Array<string> = []
for (const c of cases) {
  const rows: Record<Kind, Array<Measure>> = { fiberloop: [], patterns: [], raw: [], redis: [] }
  for (let round = 0; round < ROUNDS; round++) {
    for (let k = 0; k < kinds.length; k++) {
      const kind = kinds[(round + k) % kinds.length]!
      rows[kind].push(await measure(kind, c.n, c.pipeline))
    }
  }
  const line = (label: string, unit: string, pick: (m: Measure) => number, higherIsBetter: boolean) => {
    const [f, p, r, s] = kinds.map((kind) => rows[kind].map(pick)) as [
      Array<number>,
      Array<number>,
      Array<number>,
      Array<number>
    ]
    const vs = (xs: Array<number>, ys: Array<number>) => {
      const ratios = xs.map((x, i) => x / ys[i]!)
      return { median: median(ratios), range: `${Math.min(...ratios).toFixed(2)}–${Math.max(...ratios).toFixed(2)}x` }
    }
    const decoder = vs(f, r)
    const patterns = vs(p, r)
    const met = higherIsBetter ? decoder.median >= TARGET : decoder.median <= 1 / TARGET
    verdicts.push(
      `${c.name}: ${label} ${ratioText(decoder.median, higherIsBetter ? TARGET : 1 / TARGET)} raw (read patterns ${patterns.median.toFixed(2)}x): ${
        met ? "met" : "NOT met"
      }`
    )
    console.log(
      `| ${c.name}: ${label} | ${fmt(median(f))} ${unit} | ${fmt(median(p))} ${unit} | ${fmt(median(r))} ${unit} | ${
        fmt(median(s))
      } ${unit} | ${ratioText(decoder.median, higherIsBetter ? TARGET : 1 / TARGET)} ${met ? "(met)" : "(NOT met)"} | ${decoder.range} | ${
        patterns.median.toFixed(2)
      }x | ${patterns.range} | ${vs(f, s).median.toFixed(2)}x |`
    )
  }
  line("requests/s", "/s", (m) => m.rps, true)
  line("server CPU/request", "µs", (m) => m.cpuMicrosPerRequest, false)
}
console.log(
  `\nTarget: fiberloop >= ${TARGET}x raw node requests/s (and <= ${(1 / TARGET).toFixed(2)}x its CPU per request).`
)
for (const v of verdicts) console.log(`- ${v}`)
