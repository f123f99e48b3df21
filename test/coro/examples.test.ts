/**
 * The Copas manual's examples (examples/coro-*.ts), run as written by the
 * `fiberloop run` command in a process of their own, driven by real clients.
 */
import { afterAll, assert, describe, it } from "@effect/vitest"
import * as Effect from "effect/Effect"
import * as ManagedRuntime from "effect/ManagedRuntime"
import * as Dgram from "node:dgram"
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs"
import * as Https from "node:https"
import * as Net from "node:net"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { Certs, CertsLive } from "../net/certs.ts"
import { spawnProcess } from "../net/support.ts"

const certsRuntime = ManagedRuntime.make(CertsLive)
const scratch = mkdtempSync(join(tmpdir(), "fiberloop-coro-"))
afterAll(async () => {
  rmSync(scratch, { recursive: true, force: true })
  await certsRuntime.dispose()
})

/** `fiberloop run <args>` in a process of its own (killed with the test's scope). */
const fiberloop = (...args: Array<string>) => spawnProcess(process.execPath, ["src/cli/bin.js", "run", ...args])

const portOf = (line: string): number => Number(/:(\d+)$/.exec(line)?.[1])

/** Waits (bounded) until `check` holds. */
const eventually = (check: () => boolean) =>
  Effect.gen(function*() {
    for (let i = 0; i < 2500 && !check(); i++) yield* Effect.sleep(4)
    assert.isTrue(check())
  })

const lineClient = (port: number) =>
  Effect.acquireRelease(
    Effect.callback<{ readonly ask: (line: string) => Effect.Effect<string>; readonly socket: Net.Socket }>((resume) => {
      const socket = Net.connect({ host: "127.0.0.1", port }, () => {
        let buffer = ""
        const waiters: Array<(line: string) => void> = []
        socket.on("data", (chunk) => {
          buffer += chunk.toString()
          let i: number
          while ((i = buffer.indexOf("\n")) >= 0) {
            const line = buffer.slice(0, i)
            buffer = buffer.slice(i + 1)
            waiters.shift()?.(line)
          }
        })
        const ask = (line: string) =>
          Effect.callback<string>((resume) => {
            waiters.push((reply) => resume(Effect.succeed(reply)))
            socket.write(`${line}\n`)
          })
        resume(Effect.succeed({ ask, socket }))
      })
      socket.on("error", () => {})
    }),
    ({ socket }) => Effect.sync(() => socket.destroy())
  )

const live = <A, E, R>(effect: Effect.Effect<A, E, R>) => effect.pipe(Effect.scoped, Effect.timeout("30 seconds"))

describe("examples under fiberloop run", () => {
  it.live("coro-echo: echoes lines, ends a client on quit, stops on SIGINT with code 130", () =>
    live(Effect.gen(function*() {
      const proc = yield* fiberloop("examples/coro-echo.ts", "0")
      const port = portOf(yield* proc.line)
      const client = yield* lineClient(port)
      assert.strictEqual(yield* client.ask("hello"), "hello")
      assert.strictEqual(yield* client.ask("again"), "again")
      const closed = Effect.callback<void>((resume) => void client.socket.once("close", () => resume(Effect.void)))
      client.socket.write("quit\n")
      yield* closed
      proc.child.kill("SIGINT")
      assert.strictEqual(yield* proc.exited, 130)
      assert.include(proc.stderr(), "stopping")
    })))

  it.live("coro-udp: answers datagrams; SIGTERM stops it", () =>
    live(Effect.gen(function*() {
      const proc = yield* fiberloop("examples/coro-udp.ts", "0")
      const port = portOf(yield* proc.line)
      const socket = Dgram.createSocket("udp4")
      yield* Effect.addFinalizer(() => Effect.sync(() => socket.close()))
      const reply = yield* Effect.callback<string>((resume) => {
        socket.once("message", (msg) => resume(Effect.succeed(msg.toString())))
        socket.send("ping", port, "127.0.0.1")
      })
      assert.strictEqual(reply, "received: ping")
      proc.child.kill("SIGTERM")
      assert.strictEqual(yield* proc.exited, 130)
    })))

  it.live("coro-client: a thread asks a server while another thread runs; the command exits 0", () =>
    live(Effect.gen(function*() {
      const server = Net.createServer((socket) => {
        socket.once("data", (data) => socket.end(`you said ${data.toString().trim()}\n`))
      })
      yield* Effect.addFinalizer(() => Effect.sync(() => server.close()))
      yield* Effect.callback<void>((resume) => void server.listen(0, "127.0.0.1", () => resume(Effect.void)))
      const port = (server.address() as Net.AddressInfo).port
      const proc = yield* fiberloop("examples/coro-client.ts", "127.0.0.1", String(port), "hi")
      const lines = [yield* proc.line, yield* proc.line]
      assert.isTrue(lines.some((l) => l.startsWith("ticker slept")), lines.join("|"))
      assert.include(lines, "reply: you said hi")
      assert.strictEqual(yield* proc.exited, 0)
    })))

  it.live("coro-lock: threads take turns; the impatient one times out", () =>
    live(Effect.gen(function*() {
      const proc = yield* fiberloop("examples/coro-lock.ts")
      const lines: Array<string> = []
      for (let i = 0; i < 4; i++) lines.push(yield* proc.line)
      assert.deepStrictEqual(lines.map((l) => l.split(":")[0]), ["one", "impatient", "two", "three"])
      assert.include(lines[1]!, "timeout")
      assert.strictEqual(yield* proc.exited, 0)
    })))

  it.live("coro-timer: five runs, then the loop ends", () =>
    live(Effect.gen(function*() {
      const proc = yield* fiberloop("examples/coro-timer.ts", "--stats")
      for (let i = 1; i <= 5; i++) assert.strictEqual(yield* proc.line, `${i}: hello world`)
      assert.strictEqual(yield* proc.exited, 0)
      assert.include(proc.stderr(), "[fiberloop] threads=")
    })))

  it.live("coro-https: serves a request over TLS", () =>
    live(Effect.gen(function*() {
      const certs = yield* Effect.promise(() => certsRuntime.runPromise(Effect.service(Certs)))
      const proc = yield* fiberloop("examples/coro-https.ts", "0", certs.server.keyFile, certs.server.certFile)
      const port = portOf(yield* proc.line)
      const body = yield* Effect.callback<string, Error>((resume) => {
        Https.get({ host: "127.0.0.1", port, path: "/x", servername: "localhost", ca: readFileSync(certs.caFile), agent: false }, (res) => {
          let text = ""
          res.on("data", (chunk) => (text += chunk))
          res.on("end", () => resume(Effect.succeed(text)))
        }).on("error", (e) => resume(Effect.fail(e)))
      })
      assert.match(body, /^hello over TLSv1\.[23]: GET \/x HTTP\/1\.1\n$/)
      proc.child.kill("SIGINT")
      assert.strictEqual(yield* proc.exited, 130)
    })))

  it.live("a script whose own thread fails exits 1 with Copas's traceback; globals are set", () =>
    live(Effect.gen(function*() {
      const script = join(scratch, "failing.ts")
      writeFileSync(
        script,
        "const copas = (globalThis as any).copas\nawait copas.pause(0.01)\nthrow new Error(\"script broke\")\n"
      )
      const proc = yield* fiberloop(script)
      assert.strictEqual(yield* proc.exited, 1)
      assert.include(proc.stderr(), "script broke (coroutine: copas_initializer, socket: nil)")
    })))

  it.live("a second signal forces the exit while the first one drains", () =>
    live(Effect.gen(function*() {
      const script = join(scratch, "busy.ts")
      writeFileSync(
        script,
        "const copas = (globalThis as any).copas\n" +
          "copas.addthread(async () => { for (;;) await copas.pause(0.05) })\nconsole.log(\"started\")\n"
      )
      const proc = yield* fiberloop("--drain", "60", script)
      assert.strictEqual(yield* proc.line, "started")
      proc.child.kill("SIGINT")
      yield* eventually(() => proc.stderr().includes("stopping"))
      proc.child.kill("SIGINT")
      assert.strictEqual(yield* proc.exited, 130)
    })))
})
