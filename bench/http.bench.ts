/**
 * HTTP: fiberloop's `Http.serve` vs effect's own `NodeHttpServer` vs raw
 * `node:http`, A/B/C interleaved (the order rotates each round), each
 * measurement on a fresh server process with a core to itself
 * (bench/http-server.ts). The load is Debian's `wrk` (HTTP/1.1 keep-alive) and
 * `h2load` (HTTP/2 over TLS), pinned with this process to the other core.
 * Reported per case: requests/s, p99 latency, and server CPU per request;
 * ratios are medians of per-round ratios. Loopback only. `BENCH_CASES=fetch`
 * runs only the cases whose name contains that text.
 */
import { execFileSync, spawn } from "node:child_process"
import { mkdtempSync, rmSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { withServer } from "./server-process.ts"

const SECONDS = Number(process.env.BENCH_SECONDS ?? 2)
const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 3)
/** Seconds of load before measuring: JIT-compiled paths (a fetch handler's undici objects) need it. */
const WARMUP = Number(process.env.BENCH_WARMUP ?? 2)
const CONNECTIONS = 64
const serverScript = new URL("./http-server.ts", import.meta.url).pathname

for (const tool of ["wrk", "h2load"]) {
  try {
    execFileSync("sh", ["-c", `command -v ${tool}`])
  } catch {
    throw new Error(`${tool} is not installed: apt-get install wrk nghttp2-client`)
  }
}

// A throwaway self-signed certificate for the HTTP/2 cases (h2load does not verify).
const dir = mkdtempSync(join(tmpdir(), "fiberloop-http-bench-"))
process.on("exit", () => rmSync(dir, { recursive: true, force: true }))
execFileSync("openssl", [
  "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes",
  "-keyout", "key.pem", "-out", "cert.pem", "-days", "1", "-subj", "/CN=localhost"
], { cwd: dir, stdio: "ignore" })
const keyFile = join(dir, "key.pem")
const certFile = join(dir, "cert.pem")

interface Measure {
  readonly rps: number
  readonly p99Millis: number
  readonly cpuMicrosPerRequest: number
}

const runTool = (command: string, args: ReadonlyArray<string>): Promise<string> =>
  new Promise((resolve, reject) => {
    const child = spawn(command, args, { stdio: ["ignore", "pipe", "inherit"] })
    let out = ""
    child.stdout.on("data", (chunk: Buffer) => out += chunk.toString())
    child.once("error", reject)
    child.once("exit", (code) => code === 0 ? resolve(out) : reject(new Error(`${command} exited with ${code}\n${out}`)))
  })

const millisOf = (value: string, unit: string): number =>
  unit === "us" ? Number(value) / 1000 : unit === "s" ? Number(value) * 1000 : Number(value)

/** wrk: requests/s and p99 from `--latency`. */
const wrk = async (port: number, seconds: number) => {
  const out = await runTool("wrk", ["-t1", `-c${CONNECTIONS}`, `-d${seconds}s`, "--latency", `http://127.0.0.1:${port}/`])
  // a timeout (no answer within 2 s) is load; anything else is an error
  const errors = /Socket errors: connect (\d+), read (\d+), write (\d+)/.exec(out)
  if (/Non-2xx/.test(out) || (errors !== null && errors.slice(1).some((n) => n !== "0"))) {
    throw new Error(`wrk saw errors:\n${out}`)
  }
  const p99 = /99%\s+([\d.]+)(us|ms|s)/.exec(out)!
  return {
    requests: Number(/(\d+) requests in/.exec(out)![1]),
    rps: Number(/Requests\/sec:\s+([\d.]+)/.exec(out)![1]),
    p99Millis: millisOf(p99[1]!, p99[2]!)
  }
}

/** h2load: 4 connections × 16 streams; requests/s; p99 is not reported by h2load (max is), so it is the max. */
const h2load = async (port: number, seconds: number) => {
  const out = await runTool("h2load", ["-c", "4", "-m", "16", "-D", String(seconds), `https://127.0.0.1:${port}/`])
  const done = /requests: \d+ total, \d+ started, (\d+) done, (\d+) succeeded/.exec(out)!
  if (done[1] !== done[2]) throw new Error(`h2load saw failures:\n${out}`)
  const max = /time for request:\s+[\d.]+\w+\s+([\d.]+)(us|ms|s)/.exec(out)!
  return {
    requests: Number(done[2]),
    rps: Number(/finished in [\d.]+\w+, ([\d.]+) req\/s/.exec(out)![1]),
    p99Millis: millisOf(max[1]!, max[2]!)
  }
}

type Load = typeof wrk

const measure = (kind: string, load: Load, tlsArgs: boolean): Promise<Measure> =>
  withServer(serverScript, tlsArgs ? [kind, keyFile, certFile] : [kind], async ({ port, stats }) => {
    await load(port, WARMUP) // warm up: JIT, connections
    const before = await stats()
    const result = await load(port, SECONDS)
    const after = await stats()
    return {
      rps: result.rps,
      p99Millis: result.p99Millis,
      cpuMicrosPerRequest: (after.cpuMicros - before.cpuMicros) / result.requests
    }
  })

interface AbcCase {
  readonly name: string
  readonly load: Load
  readonly tls: boolean
  readonly kinds: readonly [fiberloop: string, effect: string, raw: string]
}

const median = (xs: ReadonlyArray<number>): number => {
  const s = [...xs].sort((a, b) => a - b)
  const mid = s.length >> 1
  return s.length % 2 === 1 ? s[mid]! : (s[mid - 1]! + s[mid]!) / 2
}

const fmt = (n: number): string => n >= 100 ? Math.round(n).toLocaleString("en-US") : n.toFixed(n >= 10 ? 1 : 2)

const cases: ReadonlyArray<AbcCase> = [
  { name: "HTTP/1.1 effect/http app (wrk)", load: wrk, tls: false, kinds: ["fiberloop-app", "effect-app", "raw"] },
  { name: "HTTP/1.1 fetch handler (wrk)", load: wrk, tls: false, kinds: ["fiberloop-fetch", "effect-fetch", "raw"] },
  { name: "HTTP/2 TLS effect/http app (h2load)", load: h2load, tls: true, kinds: ["fiberloop-h2", "effect-h2", "raw-h2"] }
]

console.log(
  `\n## HTTP: Http.serve vs effect NodeHttpServer vs raw node:http (${ROUNDS} rounds of ${SECONDS} s, A/B/C interleaved, medians)\n`
)
console.log("| case | fiberloop | NodeHttpServer | raw | vs NodeHttpServer (>= 1.0x) | vs raw (>= 0.85x) |")
console.log("|---|---|---|---|---|---|")
const only = process.env.BENCH_CASES
for (const c of cases.filter((c) => only === undefined || c.name.includes(only))) {
  const rows: Array<Array<Measure>> = [[], [], []]
  for (let round = 0; round < ROUNDS; round++) {
    // rotate who goes first
    for (let k = 0; k < 3; k++) {
      const i = (round + k) % 3
      rows[i]!.push(await measure(c.kinds[i]!, c.load, c.tls))
    }
  }
  const line = (label: string, unit: string, pick: (m: Measure) => number, higherIsBetter: boolean) => {
    const [a, b, r] = rows.map((xs) => xs.map(pick)) as [Array<number>, Array<number>, Array<number>]
    const vsEffect = median(a.map((x, i) => x / b[i]!))
    const vsRaw = median(a.map((x, i) => x / r[i]!))
    const mark = (ratio: number, target: number) =>
      `${ratio.toFixed(2)}x${higherIsBetter ? (ratio >= target ? "" : " (NO)") : ""}`
    console.log(
      `| ${c.name}: ${label} | ${fmt(median(a))} ${unit} | ${fmt(median(b))} ${unit} | ${fmt(median(r))} ${unit} | ${
        mark(vsEffect, 1.0)
      } | ${mark(vsRaw, 0.85)} |`
    )
  }
  line("requests/s", "/s", (m) => m.rps, true)
  line(c.load === h2load ? "max latency" : "p99 latency", "ms", (m) => m.p99Millis, false)
  line("server CPU/request", "µs", (m) => m.cpuMicrosPerRequest, false)
}
