/**
 * Test helpers for the network modules: the live layer, raw Node peers and
 * outside processes, each released with the test's scope.
 */
import * as NodeDns from "@effect/platform-node/NodeDns"
import * as Deferred from "effect/Deferred"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import { type ChildProcess, spawn } from "node:child_process"
import { readdirSync } from "node:fs"
import * as Net from "node:net"
import { createInterface } from "node:readline"
import type * as Connection from "../../src/net/Connection.ts"
import * as Tcp from "../../src/net/Tcp.ts"

/** The live TCP service with the system resolver. */
export const TcpLive = Tcp.layer.pipe(Layer.provide(NodeDns.layer))

/**
 * A server whose handler hands out its connection (and then waits), so the
 * test drives the connection itself; closed with the scope.
 */
export const serverSide = (options?: Connection.Options) =>
  Effect.gen(function*() {
    const accepted = yield* Deferred.make<Connection.Connection>()
    const server = yield* Tcp.serve({
      host: "127.0.0.1",
      port: 0,
      drainTimeout: 0,
      ...options,
      handler: (conn) => Deferred.succeed(accepted, conn).pipe(Effect.andThen(Effect.never))
    })
    return { port: server.address.port, accepted: Deferred.await(accepted) }
  })

/** `effect` with a 20-second bound, on the live TCP service (or `layer`). */
export const live = <A, E>(effect: Effect.Effect<A, E, any>, layer: Layer.Layer<any, unknown> = TcpLive) =>
  effect.pipe(Effect.timeout("20 seconds"), Effect.provide(layer)) as Effect.Effect<A, unknown, any>

/** Waits (bounded by the test's timeout) until `check` holds. */
export const eventually = (check: () => boolean) =>
  Effect.gen(function*() {
    while (!check()) yield* Effect.sleep(2)
  })

/** A raw Node client against a fiberloop server connection (`server`), both driven by the test. */
export const rawPair = (options?: Connection.Options) =>
  Effect.gen(function*() {
    const { accepted, port } = yield* serverSide(options)
    const peer = yield* rawClient(port)
    return { peer, server: yield* accepted }
  })

/** A raw `node:net` client, destroyed when the scope closes. */
export const rawClient = (port: number, host = "127.0.0.1") =>
  Effect.acquireRelease(
    Effect.callback<Net.Socket, Error>((resume) => {
      const socket = Net.connect({ host, port, allowHalfOpen: true })
      socket.once("connect", () => resume(Effect.succeed(socket)))
      socket.once("error", (error) => resume(Effect.fail(error)))
    }),
    (socket) => Effect.sync(() => socket.destroy())
  )

/** Everything a raw socket receives until the peer ends (or the socket closes). */
export const readToEnd = (socket: Net.Socket) =>
  Effect.callback<string>((resume) => {
    const chunks: Array<Buffer> = []
    socket.on("data", (chunk: Buffer) => chunks.push(chunk))
    socket.once("close", () => resume(Effect.succeed(Buffer.concat(chunks).toString())))
    socket.once("end", () => resume(Effect.succeed(Buffer.concat(chunks).toString())))
    socket.on("error", () => {})
  })

/** The next `n` bytes, or as many as arrive before the end (or a reset), as text. */
export const readBytes = (socket: Net.Socket, n: number) =>
  Effect.callback<string>((resume) => {
    let got = Buffer.alloc(0)
    const onData = (chunk: Buffer) => {
      got = Buffer.concat([got, chunk])
      if (got.length >= n) done()
    }
    const done = () => {
      socket.off("data", onData)
      socket.off("end", done)
      socket.off("close", done)
      resume(Effect.succeed(got.toString()))
    }
    socket.on("data", onData)
    socket.on("error", () => {})
    socket.once("end", done)
    socket.once("close", done)
  })

/** Writes to a raw socket and waits for the write to be flushed. */
export const rawWrite = (socket: Net.Socket, data: string | Uint8Array) =>
  Effect.callback<void, Error>((resume) => {
    socket.write(data, (error) => resume(error ? Effect.fail(error) : Effect.void))
  })

/** A port nobody listens on: bound, read back and closed again. */
export const freePort = Effect.callback<number>((resume) => {
  const server = Net.createServer()
  server.listen(0, "127.0.0.1", () => {
    const port = (server.address() as Net.AddressInfo).port
    server.close(() => resume(Effect.succeed(port)))
  })
})

/** How many file descriptors this process has open. */
export const openFds = (): number => readdirSync("/proc/self/fd").length

/**
 * An outside process (killed by PID when the scope closes) whose stdout
 * lines can be awaited one at a time.
 */
export const spawnProcess = (command: string, args: ReadonlyArray<string>) =>
  Effect.gen(function*() {
    const child = yield* Effect.acquireRelease(
      Effect.sync(() => spawn(command, args, { stdio: ["pipe", "pipe", "pipe"] })),
      (child: ChildProcess) => Effect.sync(() => child.exitCode === null && child.kill("SIGKILL"))
    )
    const lines: Array<string> = []
    const waiters: Array<() => void> = []
    let stderr = ""
    child.stderr!.on("data", (chunk: Buffer) => (stderr += chunk.toString()))
    createInterface({ input: child.stdout! }).on("line", (line) => {
      lines.push(line)
      waiters.shift()?.()
    })
    const exited = Effect.callback<number | null>((resume) => {
      if (child.exitCode !== null) return resume(Effect.succeed(child.exitCode))
      child.once("exit", (code) => resume(Effect.succeed(code)))
    })
    const line = Effect.callback<string>((resume) => {
      const take = () => resume(Effect.succeed(lines.shift()!))
      if (lines.length > 0) take()
      else waiters.push(take)
    })
    return { child, line, exited, stdin: child.stdin!, stderr: () => stderr }
  })
