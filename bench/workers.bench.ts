/**
 * One port served by four processes (`Workers`): 60,000 idle connections
 * held across 4 worker processes on loopback, then one echo on every one of
 * them, checked; the same with raw `node:net` workers (also `reusePort`,
 * same process management) for the memory per connection.
 *
 * The load comes from 4 client processes (bench/workers-client.ts) of 15,000
 * connections each, every client from source addresses of its own (four
 * each, 127.0.0.2 to 127.0.0.17, 3,750 connections per address: each address
 * has the ephemeral port range to itself; see workers-client.ts for why not
 * one), at most `BENCH_CONCURRENCY` (128) connecting at once per client.
 * Every process stays under the 20,000 file descriptor limit. The server
 * side is bench/workers-server.ts.
 *
 *   npm run bench -- workers
 *   BENCH_CONNECTIONS=8000 BENCH_RAW=0 npm run bench -- workers    (smaller, fiberloop only)
 *
 * Reports the time to open every connection, how they spread over the
 * workers, each worker's RSS (after two forced collections) before and
 * after, the RSS per connection (the workers' RSS growth / connections
 * held), and the echo check. On a shared machine the times are indicative.
 */
import { type ChildProcess, spawn } from "node:child_process"
import { createInterface } from "node:readline"

const CONNECTIONS = Number(process.env.BENCH_CONNECTIONS ?? 60_000)
const CONCURRENCY = Number(process.env.BENCH_CONCURRENCY ?? 128)
const WORKERS = 4
const CLIENTS = 4
const kinds: ReadonlyArray<"fiberloop" | "raw"> = process.env.BENCH_RAW === "0" ? ["fiberloop"] : ["fiberloop", "raw"]
const serverScript = new URL("./workers-server.ts", import.meta.url).pathname
const clientScript = new URL("./workers-client.ts", import.meta.url).pathname

/** A child process whose JSON stdout lines can be awaited by a predicate, each within a bound. */
const watch = (child: ChildProcess, name: string) => {
  const lines: Array<Record<string, unknown>> = []
  const waiters: Array<() => void> = []
  createInterface({ input: child.stdout! }).on("line", (line) => {
    if (!line.startsWith("{")) return
    lines.push(JSON.parse(line))
    for (const wake of waiters.splice(0)) wake()
  })
  let exited = false
  child.once("exit", () => {
    exited = true
    for (const wake of waiters.splice(0)) wake()
  })
  const next = <A>(matches: (line: Record<string, unknown>) => boolean, millis: number): Promise<A> =>
    new Promise((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`${name}: no reply within ${millis} ms`)), millis)
      const look = () => {
        const i = lines.findIndex(matches)
        if (i >= 0) {
          clearTimeout(timer)
          return resolve(lines.splice(i, 1)[0] as A)
        }
        if (exited) {
          clearTimeout(timer)
          return reject(new Error(`${name} exited`))
        }
        waiters.push(look)
      }
      look()
    })
  return { child, next }
}

interface Opened {
  readonly opened: number
  readonly failed: number
  readonly millis: number
}
interface Echoed {
  readonly ok: number
  readonly bad: number
  readonly perPid: Record<string, number>
  readonly millis: number
}

const ADDRESSES_PER_CLIENT = 4

/** Client `i`'s source addresses: 127.0.0.2-5 for the first, and so on. */
const sources = (i: number): string =>
  Array.from({ length: ADDRESSES_PER_CLIENT }, (_, j) => `127.0.0.${2 + ADDRESSES_PER_CLIENT * i + j}`).join(",")

const isAlive = (pid: number): boolean => {
  try {
    process.kill(pid, 0)
    return true
  } catch {
    return false
  }
}

const exitOf = (child: ChildProcess, millis: number): Promise<void> =>
  new Promise((resolve) => {
    if (child.exitCode !== null || child.signalCode !== null) return resolve()
    const timer = setTimeout(() => {
      child.kill("SIGKILL")
      resolve()
    }, millis)
    child.once("exit", () => {
      clearTimeout(timer)
      resolve()
    })
  })

const run = async (kind: "fiberloop" | "raw") => {
  const server = watch(
    spawn(process.execPath, ["--expose-gc", serverScript, kind, String(WORKERS)], {
      stdio: ["ignore", "pipe", "inherit"]
    }),
    `${kind} server`
  )
  const clients: Array<ReturnType<typeof watch>> = []
  let pids: Array<number> = []
  try {
    const started = await server.next<{ port: number; pids: Array<number> }>((l) => "port" in l, 60_000)
    pids = started.pids
    /** Every worker's RSS after two forced collections, by PID. */
    const rss = async (): Promise<Map<number, number>> => {
      for (const pid of pids) process.kill(pid, "SIGUSR2")
      const replies = await Promise.all(
        pids.map((pid) => server.next<{ pid: number; rss: number }>((l) => l.pid === pid && "rss" in l, 60_000))
      )
      return new Map(replies.map((r) => [r.pid, r.rss]))
    }
    const before = await rss()
    const start = performance.now()
    for (let i = 0; i < CLIENTS; i++) {
      const count = Math.floor(CONNECTIONS / CLIENTS) + (i < CONNECTIONS % CLIENTS ? 1 : 0)
      clients.push(watch(
        spawn(process.execPath, [clientScript, String(started.port), sources(i), String(count), String(CONCURRENCY)], {
          stdio: ["pipe", "pipe", "inherit"]
        }),
        `client ${i}`
      ))
    }
    const opened = await Promise.all(clients.map((c) => c.next<Opened>((l) => "opened" in l, 120_000)))
    const openMillis = performance.now() - start
    const after = await rss()
    const echoStart = performance.now()
    for (const c of clients) c.child.stdin!.write("echo\n")
    const echoed = await Promise.all(clients.map((c) => c.next<Echoed>((l) => "ok" in l, 120_000)))
    const echoMillis = performance.now() - echoStart
    const held = opened.reduce((n, o) => n + o.opened, 0)
    const perPid = new Map<number, number>(pids.map((pid) => [pid, 0]))
    for (const e of echoed) {
      for (const [pid, n] of Object.entries(e.perPid)) perPid.set(Number(pid), (perPid.get(Number(pid)) ?? 0) + n)
    }
    const growth = pids.reduce((sum, pid) => sum + after.get(pid)! - before.get(pid)!, 0)
    return {
      kind,
      held,
      failed: opened.reduce((n, o) => n + o.failed, 0),
      openMillis: Math.max(...opened.map((o) => o.millis)),
      wallMillis: openMillis,
      perWorker: pids.map((pid) => perPid.get(pid) ?? 0),
      before: pids.map((pid) => before.get(pid)!),
      after: pids.map((pid) => after.get(pid)!),
      perConnection: growth / held,
      ok: echoed.reduce((n, e) => n + e.ok, 0),
      bad: echoed.reduce((n, e) => n + e.bad, 0),
      echoMillis
    }
  } finally {
    for (const c of clients) c.child.stdin!.end()
    await Promise.all(clients.map((c) => exitOf(c.child, 30_000)))
    server.child.kill("SIGTERM")
    await exitOf(server.child, 30_000)
    for (const pid of pids) if (isAlive(pid)) process.kill(pid, "SIGKILL")
  }
}

const mb = (bytes: number) => (bytes / 1048576).toFixed(0)
const results: Array<Awaited<ReturnType<typeof run>>> = []
for (const kind of kinds) results.push(await run(kind))

console.log(
  `\n## workers: ${CONNECTIONS.toLocaleString("en-US")} idle connections across ${WORKERS} worker processes ` +
    `(${CLIENTS} client processes, sources 127.0.0.2-${1 + ADDRESSES_PER_CLIENT * CLIENTS}, ` +
    `${CONCURRENCY} connecting at once each)\n`
)
const title = (kind: "fiberloop" | "raw") => kind === "raw" ? "raw node:net (reusePort)" : "fiberloop (Workers)"
console.log(`| | ${results.map((r) => title(r.kind)).join(" | ")} |`)
console.log(`|---|${results.map(() => "---").join("|")}|`)
const row = (name: string, cell: (r: (typeof results)[number]) => string) =>
  console.log(`| ${name} | ${results.map(cell).join(" | ")} |`)
row("connections held", (r) => `${r.held.toLocaleString("en-US")} (${r.failed} failed)`)
row(
  "time to open all",
  (r) =>
    `${(r.openMillis / 1000).toFixed(1)} s, ${Math.round(r.held / (r.openMillis / 1000)).toLocaleString("en-US")}/s ` +
    `(${(r.wallMillis / 1000).toFixed(1)} s with the clients' start)`
)
row("connections per worker", (r) => r.perWorker.map((n) => n.toLocaleString("en-US")).join(" / "))
row("worker RSS before → after (MB)", (r) => r.before.map((b, i) => `${mb(b)}→${mb(r.after[i]!)}`).join(", "))
row("RSS per connection", (r) => `${(r.perConnection / 1024).toFixed(2)} KB`)
row(
  "echo on every connection",
  (r) => `${r.ok.toLocaleString("en-US")} ok, ${r.bad} bad, ${(r.echoMillis / 1000).toFixed(1)} s`
)
if (results.length === 2) {
  const ratio = results[0]!.perConnection / results[1]!.perConnection
  console.log(`\nRSS per connection, fiberloop / raw: ${ratio.toFixed(2)}x`)
}
const allOk = results.every((r) => r.held === CONNECTIONS && r.ok === CONNECTIONS && r.bad === 0)
console.log(allOk ? "\nevery connection held and echoed" : "\nNOT every connection held and echoed")
process.exit(allOk ? 0 : 1)
