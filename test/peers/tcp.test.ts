import { assert, describe, it } from "@effect/vitest"
import * as Effect from "effect/Effect"
import * as Tcp from "../../src/net/Tcp.ts"
import { freePort, spawnProcess, TcpLive } from "../net/support.ts"
import { requireTool } from "./support.ts"

const live = <A, E>(effect: Effect.Effect<A, E, any>) =>
  effect.pipe(Effect.timeout("15 seconds"), Effect.provide(TcpLive)) as Effect.Effect<A, unknown, any>

const upperEcho = (conn: Parameters<Tcp.ServeOptions<never, never>["handler"]>[0]) =>
  Effect.forever(Effect.flatMap(conn.receive(), (line) => conn.send(`${line.toUpperCase()}\n`)), { disableYield: true })

describe("outside peers: TCP", () => {
  it.live("nc talks to a fiberloop server and half-closes cleanly", () =>
    live(Effect.gen(function*() {
      requireTool("nc")
      const server = yield* Tcp.serve({ host: "127.0.0.1", port: 0, handler: upperEcho })
      // -N: shut down the write side after stdin ends; nc then waits for the server to close
      const nc = yield* spawnProcess("nc", ["-N", "127.0.0.1", String(server.address.port)])
      nc.stdin.end("hello from nc\r\nsecond line\n")
      assert.strictEqual(yield* nc.line, "HELLO FROM NC")
      assert.strictEqual(yield* nc.line, "SECOND LINE")
      assert.strictEqual(yield* nc.exited, 0)
      assert.strictEqual(server.stats().failed, 0)
    })))

  it.live("socat streams a large payload through a fiberloop echo server intact", () =>
    live(Effect.gen(function*() {
      requireTool("socat")
      const server = yield* Tcp.serve({
        host: "127.0.0.1",
        port: 0,
        handler: (conn) => Effect.forever(Effect.flatMap(conn.receivePartial(), (chunk) => conn.send(chunk)))
      })
      const lines = Array.from({ length: 20000 }, (_, i) => `line ${i} ${"x".repeat(i % 97)}`)
      const socat = yield* spawnProcess("socat", ["-t", "5", "-", `TCP:127.0.0.1:${server.address.port}`])
      socat.stdin.end(lines.join("\n") + "\n")
      const echoed = []
      for (let i = 0; i < lines.length; i++) echoed.push(yield* socat.line)
      assert.deepStrictEqual(echoed, lines)
    })))

  it.live("a fiberloop client talks to a socat echo server", () =>
    live(Effect.gen(function*() {
      requireTool("socat")
      const port = yield* freePort
      const socat = yield* spawnProcess("socat", ["-d", "-d", `TCP-LISTEN:${port},bind=127.0.0.1,reuseaddr`, "EXEC:cat"])
      // socat reports on stderr once it listens; retry the connect until then (bounded by the timeout)
      const conn = yield* Tcp.connect({ host: "127.0.0.1", port }).pipe(
        Effect.retry({ while: (e) => e._tag === "ConnectionRefused", times: 200 }),
        Effect.tapError(() => Effect.sync(() => socat.stderr()))
      )
      yield* conn.send("ping\n")
      assert.strictEqual(yield* conn.receive(), "ping")
      yield* conn.shutdown
      assert.strictEqual((yield* Effect.flip(conn.receive()))._tag, "ConnectionClosed")
    })))

  it.live("nc as a client of the line-chat demo", () =>
    live(Effect.gen(function*() {
      requireTool("nc")
      const demo = yield* spawnProcess(process.execPath, [
        new URL("../../examples/line-chat.ts", import.meta.url).pathname,
        "0"
      ])
      const port = Number(/127\.0\.0\.1:(\d+)/.exec(yield* demo.line)?.[1])
      const nc = yield* spawnProcess("nc", ["-N", "127.0.0.1", String(port)])
      nc.stdin.end("/who\n/quit\n")
      assert.match(yield* nc.line, /^Welcome to fiberloop chat, guest1/)
      assert.strictEqual(yield* nc.line, "* here: guest1")
      assert.strictEqual(yield* nc.line, "* bye")
      assert.strictEqual(yield* nc.exited, 0)
    })))
})
