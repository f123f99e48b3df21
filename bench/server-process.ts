/**
 * Benchmark servers in processes of their own, so that a server has a core
 * and a heap to itself. The load side starts one with `withServer`; the
 * server script calls `announce` once it listens.
 *
 * Protocol: the server prints `{ port }`, then answers every line on stdin
 * with `{ cpuMicros, rss, heap, open }` (CPU time so far, read before the
 * forced collections that precede the RSS and V8 heap readings), and exits
 * when stdin closes. The line `snapshot <file>` also writes a V8 heap
 * snapshot to that file (bench/heap.bench.ts).
 */
import { spawn } from "node:child_process"
import { createInterface } from "node:readline"
import { writeHeapSnapshot } from "node:v8"
import { serverCommand } from "./harness.ts"

/** What a server process reports. */
export interface ServerStats {
  readonly cpuMicros: number
  readonly rss: number
  /** V8 heap in use after the collections (`heapUsed`), bytes. */
  readonly heap: number
  readonly open: number
}

/** A running server process. */
export interface ServerProcess {
  readonly port: number
  readonly stats: () => Promise<ServerStats>
  /** Like `stats`, and writes a heap snapshot to `file` first. */
  readonly snapshot: (file: string) => Promise<ServerStats>
}

/**
 * Starts `script` with `args` (pinned by `serverCommand`), runs `body`
 * against it, and stops it.
 *
 * ```ts
 * const rate = await withServer(new URL("./tcp-server.ts", import.meta.url).pathname, ["raw"], ({ port }) => load(port))
 * ```
 */
export const withServer = async <A>(
  script: string,
  args: ReadonlyArray<string>,
  body: (server: ServerProcess) => Promise<A>
): Promise<A> => {
  const child = spawn(...serverCommand(["--expose-gc", script, ...args]), { stdio: ["pipe", "pipe", "inherit"] })
  const waiters: Array<(line: string) => void> = []
  // only the protocol's JSON lines: diagnostics a node flag prints (BENCH_SERVER_ARGS="--trace-deopt") are skipped
  createInterface({ input: child.stdout }).on("line", (line) => {
    if (line.startsWith("{")) waiters.shift()?.(line)
  })
  try {
    const port = await new Promise<number>((resolve, reject) => {
      waiters.push((line) => resolve(JSON.parse(line).port))
      child.once("error", reject)
      child.once("exit", (code) => reject(new Error(`${script} exited with ${code}`)))
    })
    const ask = (command: string) =>
      new Promise<ServerStats>((resolve) => {
        waiters.push((line) => resolve(JSON.parse(line)))
        child.stdin.write(command + "\n")
      })
    return await body({ port, stats: () => ask("stats"), snapshot: (file) => ask(`snapshot ${file}`) })
  } finally {
    child.kill()
  }
}

const gc = (globalThis as { gc?: () => void }).gc ?? (() => {})

/**
 * Called by a server script once it listens: prints the port, then serves
 * the stats protocol; `open` counts the connections it holds.
 *
 * ```ts
 * server.listen(0, "127.0.0.1", () => announce(server.address().port, () => count))
 * ```
 */
export const announce = (port: number, open: () => number): void => {
  process.stdout.write(JSON.stringify({ port }) + "\n")
  createInterface({ input: process.stdin })
    .on("line", (line) => {
      const cpu = process.cpuUsage() // before the collections below, which are not part of the work measured
      gc()
      gc()
      // `snapshot <file>`: also write a heap snapshot there (bench/heap.bench.ts)
      if (line.startsWith("snapshot ")) writeHeapSnapshot(line.slice("snapshot ".length))
      const memory = process.memoryUsage()
      const stats: ServerStats = {
        cpuMicros: cpu.user + cpu.system,
        rss: memory.rss,
        heap: memory.heapUsed,
        open: open()
      }
      process.stdout.write(JSON.stringify(stats) + "\n")
    })
    .on("close", () => process.exit(0))
}
