/**
 * One client process of the workers benchmark (bench/workers.bench.ts):
 * opens `count` connections to 127.0.0.1:`port`, alternating between its
 * source addresses (`localAddresses`, comma-separated; no two clients share
 * one, so each has the ephemeral port range to itself), at most
 * `concurrency` connecting at once, and holds them. Connections end with a
 * reset (no TIME_WAIT left on the client's ports for the next run).
 *
 * Why several addresses per client: `bind()` to port 0 (what `localAddress`
 * does) searches a quarter of the ephemeral range first (the odd ports of its
 * lower half, leaving the rest to connect()): about 7,050 ports of
 * 32768-60999. Measured here, one address slows to about 25 connections a
 * second past that many; keep each address well under it.
 *
 *   node bench/workers-client.ts port localAddresses count concurrency
 *
 * Protocol: prints `{ opened, failed, millis }` once every connection is
 * open (or failed); on the stdin line `echo`, sends one line on every
 * connection (`concurrency` at once), checks its echo `<pid> <line>`, and
 * prints `{ ok, bad, perPid, millis }`; exits when stdin closes.
 */
import * as Net from "node:net"
import { createInterface } from "node:readline"

const [port, localAddresses, count, concurrency] = [
  Number(process.argv[2]),
  process.argv[3]!.split(","),
  Number(process.argv[4]),
  Number(process.argv[5] ?? 128)
]
const sockets: Array<Net.Socket> = []
let failed = 0
const print = (value: unknown) => process.stdout.write(`${JSON.stringify(value)}\n`)

/** Runs `task(i)` for every i < n, at most `concurrency` at once; resolves when all are done. */
const bounded = (n: number, task: (i: number, done: () => void) => void): Promise<void> =>
  new Promise((resolve) => {
    let next = 0
    let finished = 0
    const launch = () => {
      while (next < n && next - finished < concurrency) task(next++, done)
    }
    const done = () => {
      if (++finished === n) resolve()
      else launch()
    }
    if (n === 0) resolve()
    launch()
  })

const open = async () => {
  const start = performance.now()
  const progress = setInterval(() => {
    if (process.env.BENCH_PROGRESS === undefined) return
    process.stderr.write(`${localAddresses.join(",")}: ${sockets.length} open, ${failed} failed\n`)
  }, 5000)
  await bounded(count, (i, done) => {
    const localAddress = localAddresses[i % localAddresses.length]!
    const socket = Net.connect({ host: "127.0.0.1", port, localAddress, noDelay: true })
    socket.setTimeout(20_000)
    socket.once("timeout", () => socket.destroy(new Error("connect timeout")))
    socket.once("connect", () => {
      socket.setTimeout(0)
      sockets.push(socket)
      done()
    })
    socket.on("error", () => {
      if (socket.connecting) {
        failed++
        done()
      }
    })
  })
  clearInterval(progress)
  print({ opened: sockets.length, failed, millis: performance.now() - start })
}

const echoAll = async () => {
  const start = performance.now()
  const perPid: Record<string, number> = {}
  let ok = 0
  let bad = 0
  await bounded(sockets.length, (i, done) => {
    const socket = sockets[i]!
    const line = `${localAddresses[0]}#${i}`
    let got = ""
    const timer = setTimeout(() => finish(false), 20_000)
    const onData = (chunk: Buffer) => {
      got += chunk.toString("latin1")
      if (got.endsWith("\n")) finish(true)
    }
    const finish = (arrived: boolean) => {
      clearTimeout(timer)
      socket.off("data", onData)
      const space = got.indexOf(" ")
      if (arrived && got.slice(space + 1) === `${line}\n`) {
        ok++
        const pid = got.slice(0, space)
        perPid[pid] = (perPid[pid] ?? 0) + 1
      } else bad++
      done()
    }
    socket.on("data", onData)
    socket.write(`${line}\n`)
  })
  print({ ok, bad, perPid, millis: performance.now() - start })
}

createInterface({ input: process.stdin })
  .on("line", (line) => {
    if (line === "echo") void echoAll()
  })
  .on("close", () => {
    for (const socket of sockets) socket.resetAndDestroy()
    process.exit(0)
  })
void open()
