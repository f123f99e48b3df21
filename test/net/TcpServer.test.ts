import { assert, describe, it } from "@effect/vitest"
import * as Cause from "effect/Cause"
import * as Deferred from "effect/Deferred"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as Fiber from "effect/Fiber"
import * as Layer from "effect/Layer"
import * as Scope from "effect/Scope"
import { execFileSync } from "node:child_process"
import { existsSync, mkdtempSync, rmSync, statSync, writeFileSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import * as Tcp from "../../src/net/Tcp.ts"
import * as Stats from "../../src/Stats.ts"
import { Certs, CertsLive } from "./certs.ts"
import { eventually, live, rawClient, readBytes, readToEnd, spawnProcess, TcpLive } from "./support.ts"

/** A temporary directory for socket files, removed with the scope. */
const tempDir = Effect.acquireRelease(
  Effect.sync(() => mkdtempSync(join(tmpdir(), "fiberloop-unix-"))),
  (dir) => Effect.sync(() => rmSync(dir, { recursive: true, force: true }))
)

const echo = Effect.fnUntraced(function*(conn: Tcp.Connection) {
  for (;;) yield* conn.send(`${yield* conn.receive("*l")}\n`)
})

describe("Tcp.serve", () => {
  describe("handler scope", () => {
    it.live("a handler's acquireRelease is released when the peer disconnects", () =>
      live(Effect.gen(function*() {
        const released = yield* Deferred.make<string>()
        const handler = Effect.fnUntraced(function*(conn: Tcp.Connection) {
          const resource = yield* Effect.acquireRelease(
            Effect.succeed("session"),
            (name, exit) => Deferred.succeed(released, `${name} ${exit._tag}`)
          )
          for (;;) yield* conn.send(`${resource}: ${yield* conn.receive("*l")}\n`)
        })
        const server = yield* Tcp.serve({ host: "127.0.0.1", port: 0, handler })
        const peer = yield* rawClient(server.address.port)
        peer.write("hi\n")
        assert.strictEqual(yield* readBytes(peer, 12), "session: hi\n")
        peer.end()
        // the handler ends with end of stream: a failure exit, not reported as one
        assert.strictEqual(yield* Deferred.await(released), "session Failure")
        yield* eventually(() => server.stats().active === 0)
        assert.strictEqual(server.stats().failed, 0)
      })))

    it.live("a handler's finalizers run when it fails, and the failure is still reported", () =>
      live(Effect.gen(function*() {
        const released = yield* Deferred.make<void>()
        const reported = yield* Deferred.make<string>()
        const server = yield* Tcp.serve({
          host: "127.0.0.1",
          port: 0,
          onError: (cause) => Deferred.succeed(reported, Cause.pretty(cause)).pipe(Effect.asVoid),
          handler: () =>
            Effect.addFinalizer(() => Deferred.succeed(released, undefined)).pipe(
              Effect.andThen(Effect.fail("handler gave up"))
            )
        })
        const peer = yield* rawClient(server.address.port)
        assert.strictEqual(yield* readToEnd(peer), "")
        yield* Deferred.await(released)
        assert.include(yield* Deferred.await(reported), "handler gave up")
        assert.strictEqual(server.stats().failed, 1)
      })))

    it.live("a handler's finalizers run when the server closes and interrupts it", () =>
      live(Effect.gen(function*() {
        const scope = yield* Scope.make()
        const started = yield* Deferred.make<void>()
        const released = yield* Deferred.make<boolean>()
        const server = yield* Tcp.serve({
          host: "127.0.0.1",
          port: 0,
          drainTimeout: "50 millis",
          handler: () =>
            Effect.acquireRelease(
              Deferred.succeed(started, undefined),
              (_, exit) => Deferred.succeed(released, Exit.hasInterrupts(exit))
            ).pipe(Effect.andThen(Effect.never))
        }).pipe(Scope.provide(scope))
        const peer = yield* rawClient(server.address.port)
        yield* Deferred.await(started)
        yield* Scope.close(scope, Exit.void)
        // closing waited for the finalizer: it has run by now
        assert.isTrue(yield* Effect.timeout(Deferred.await(released), "1 second"))
        assert.strictEqual(yield* readToEnd(peer), "")
      })))

    it.live("a handler's finalizers run before the socket closes: they may still send", () =>
      live(Effect.gen(function*() {
        const handler = Effect.fnUntraced(function*(conn: Tcp.Connection) {
          yield* Effect.addFinalizer(() => Effect.ignore(conn.send("bye\n")))
          yield* conn.send(`${yield* conn.receive("*l")}\n`)
        })
        const server = yield* Tcp.serve({ host: "127.0.0.1", port: 0, handler })
        const peer = yield* rawClient(server.address.port)
        peer.write("one line\n")
        assert.strictEqual(yield* readToEnd(peer), "one line\nbye\n")
      })))

    it.live("a TLS handler has its own scope too", () =>
      live(
        Effect.gen(function*() {
          const certs = yield* Certs
          const released = yield* Deferred.make<void>()
          const server = yield* Tcp.serve({
            host: "127.0.0.1",
            port: 0,
            tls: { key: certs.server.key, cert: certs.server.cert },
            handler: (conn) =>
              Effect.addFinalizer(() => Deferred.succeed(released, undefined)).pipe(
                Effect.andThen(conn.send("secure hello\n"))
              )
          })
          const conn = yield* Tcp.connect({ host: "127.0.0.1", port: server.address.port, tls: { ca: certs.ca } })
          assert.strictEqual(yield* conn.receive("*l"), "secure hello")
          yield* Deferred.await(released)
        }),
        Layer.merge(TcpLive, CertsLive)
      ))
  })

  describe("bounds", () => {
    it.live("closes connections that wait longer than waitingTimeout, and counts them", () =>
      live(Effect.gen(function*() {
        const before = yield* Stats.snapshot
        const release = yield* Deferred.make<void>()
        const server = yield* Tcp.serve({
          host: "127.0.0.1",
          port: 0,
          maxConnections: 1,
          waitingTimeout: "150 millis",
          handler: (conn) => Effect.andThen(Deferred.await(release), conn.send("served\n"))
        })
        const first = yield* rawClient(server.address.port)
        yield* eventually(() => server.stats().active === 1)
        const second = yield* rawClient(server.address.port)
        yield* eventually(() => server.stats().waiting === 1)
        const during = yield* Stats.snapshot
        assert.strictEqual(during.waiting - before.waiting, 1)
        // the waiting connection is closed unserved once its time is up
        assert.strictEqual(yield* readToEnd(second), "")
        assert.deepStrictEqual(
          { waiting: server.stats().waiting, waitedOut: server.stats().waitedOut, active: server.stats().active },
          { waiting: 0, waitedOut: 1, active: 1 }
        )
        const after = yield* Stats.snapshot
        assert.strictEqual(after.waitedOut - before.waitedOut, 1)
        assert.strictEqual(after.waiting - before.waiting, 0)
        yield* Deferred.succeed(release, undefined)
        assert.strictEqual(yield* readToEnd(first), "served\n")
      })))

    it.live("bounds TLS handshakes in flight with maxHandshakes: more connections wait", () =>
      live(
        Effect.gen(function*() {
          const certs = yield* Certs
          const server = yield* Tcp.serve({
            host: "127.0.0.1",
            port: 0,
            maxHandshakes: 1,
            tls: { key: certs.server.key, cert: certs.server.cert },
            handler: (conn) => conn.send("hello\n")
          })
          // a peer that connects and never says hello holds the only handshake slot
          const silent = yield* rawClient(server.address.port)
          yield* eventually(() => server.stats().handshakes === 1)
          const handshakes = yield* Stats.snapshot
          assert.isAtLeast(handshakes.handshakes, 1)
          const client = yield* Effect.forkChild(Effect.scoped(Effect.gen(function*() {
            const conn = yield* Tcp.connect({ host: "127.0.0.1", port: server.address.port, tls: { ca: certs.ca } })
            return yield* conn.receive("*l")
          })))
          yield* eventually(() => server.stats().waiting === 1)
          assert.strictEqual(server.stats().handshakes, 1)
          assert.isUndefined(client.pollUnsafe())
          // the silent peer leaves: the waiting client gets the slot
          silent.destroy()
          assert.strictEqual(yield* Fiber.join(client), "hello")
          assert.strictEqual(server.stats().rejected, 0)
        }),
        Layer.merge(TcpLive, CertsLive)
      ))
  })

  describe("Unix domain sockets", () => {
    it.live("serves and connects over a socket path; the file is removed on close", () =>
      live(Effect.gen(function*() {
        const path = join(yield* tempDir, "echo.sock")
        const scope = yield* Scope.make()
        const server = yield* Tcp.serve({ path, handler: echo }).pipe(Scope.provide(scope))
        assert.strictEqual(server.path, path)
        assert.isTrue(statSync(path).isSocket())
        const answer = yield* Effect.scoped(Effect.gen(function*() {
          const conn = yield* Tcp.connect({ path })
          yield* conn.send("over unix\n")
          return yield* conn.receive("*l")
        }))
        assert.strictEqual(answer, "over unix")
        assert.strictEqual(server.stats().accepted, 1)
        yield* Scope.close(scope, Exit.void)
        assert.isFalse(existsSync(path))
        const refused = yield* Effect.flip(Tcp.connect({ path }))
        assert.include(["ConnectionRefused", "SocketError"], refused._tag)
      })))

    it.live("removes a stale socket file that nobody listens on", () =>
      live(Effect.gen(function*() {
        const path = join(yield* tempDir, "stale.sock")
        // a socket file left behind: bound by a process that exited without removing it
        const py = yield* spawnProcess("python3", [
          "-c",
          `import socket\ns=socket.socket(socket.AF_UNIX)\ns.bind(${JSON.stringify(path)})\nprint("bound",flush=True)`
        ])
        assert.strictEqual(yield* py.line, "bound")
        assert.strictEqual(yield* py.exited, 0)
        assert.isTrue(statSync(path).isSocket())
        yield* Tcp.serve({ path, handler: echo })
        const conn = yield* Tcp.connect({ path })
        yield* conn.send("fresh\n")
        assert.strictEqual(yield* conn.receive("*l"), "fresh")
      })))

    it.live("leaves a live socket and a regular file alone: AddressInUse", () =>
      live(Effect.gen(function*() {
        const dir = yield* tempDir
        const path = join(dir, "live.sock")
        yield* Tcp.serve({ path, handler: echo })
        const taken = yield* Effect.flip(Tcp.serve({ path, handler: echo }))
        assert.strictEqual(taken._tag, "AddressInUse")
        const file = join(dir, "plain-file")
        writeFileSync(file, "not a socket")
        const notSocket = yield* Effect.flip(Tcp.serve({ path: file, handler: echo }))
        assert.strictEqual(notSocket._tag, "AddressInUse")
        assert.isTrue(statSync(file).isFile())
        // the first server still serves
        const conn = yield* Tcp.connect({ path })
        yield* conn.send("still\n")
        assert.strictEqual(yield* conn.receive("*l"), "still")
      })))
  })

  describe("TCP options", () => {
    /** `ss` timer columns of the established sockets on `port`. */
    const socketTimers = (port: number) =>
      Effect.sync(() =>
        execFileSync("ss", ["-tnoH", "state", "established", `( sport = :${port} or dport = :${port} )`])
          .toString().trim().split("\n").filter((line) => line.length > 0)
      )

    it.live("keepAlive with an initial delay on accepted and dialled sockets", () =>
      live(Effect.gen(function*() {
        const server = yield* Tcp.serve({
          host: "127.0.0.1",
          port: 0,
          keepAlive: true,
          keepAliveInitialDelay: "7 seconds",
          handler: echo
        })
        const conn = yield* Tcp.connect({
          host: "127.0.0.1",
          port: server.address.port,
          keepAlive: true,
          keepAliveInitialDelay: "9 seconds"
        })
        yield* conn.send("ping\n")
        assert.strictEqual(yield* conn.receive("*l"), "ping")
        const lines = yield* socketTimers(server.address.port)
        assert.strictEqual(lines.length, 2)
        // ss prints the time to the first probe in seconds (as "6.672ms" on this iproute2)
        for (const line of lines) assert.match(line, /timer:\(keepalive,[0-9.]+m?s/)
        const delays = lines.map((line) => Number(/timer:\(keepalive,([0-9.]+)m?s/.exec(line)![1])).sort((a, b) => a - b)
        assert.isAbove(delays[0]!, 5)
        assert.isAtMost(delays[1]!, 9)
      })))

    it.live("no keepAlive by default", () =>
      live(Effect.gen(function*() {
        const server = yield* Tcp.serve({ host: "127.0.0.1", port: 0, handler: echo })
        const conn = yield* Tcp.connect({ host: "127.0.0.1", port: server.address.port })
        yield* conn.send("ping\n")
        assert.strictEqual(yield* conn.receive("*l"), "ping")
        const lines = yield* socketTimers(server.address.port)
        assert.strictEqual(lines.length, 2)
        for (const line of lines) assert.notInclude(line, "keepalive")
      })))

    it.live("reusePort: two servers listen on one port and both accept", () =>
      live(Effect.gen(function*() {
        const first = yield* Tcp.serve({ host: "127.0.0.1", port: 0, reusePort: true, handler: echo })
        const port = first.address.port
        const second = yield* Tcp.serve({ host: "127.0.0.1", port, reusePort: true, handler: echo })
        assert.strictEqual(second.address.port, port)
        yield* Effect.forEach(
          Array.from({ length: 64 }, (_, i) => i),
          (i) =>
            Effect.scoped(Effect.gen(function*() {
              const conn = yield* Tcp.connect({ host: "127.0.0.1", port })
              yield* conn.send(`${i}\n`)
              assert.strictEqual(yield* conn.receive("*l"), `${i}`)
            })),
          { concurrency: 8, discard: true }
        )
        assert.strictEqual(first.stats().accepted + second.stats().accepted, 64)
        assert.isAbove(first.stats().accepted, 0)
        assert.isAbove(second.stats().accepted, 0)
        // without reusePort the port is taken
        const taken = yield* Effect.flip(Tcp.serve({ host: "127.0.0.1", port, handler: echo }))
        assert.strictEqual(taken._tag, "AddressInUse")
      })))

    it.live("ipv6Only: a server on :: takes IPv6 only", () =>
      live(Effect.gen(function*() {
        const only = yield* Tcp.serve({ host: "::", port: 0, ipv6Only: true, handler: echo })
        const v6 = yield* Tcp.connect({ host: "::1", port: only.address.port })
        yield* v6.send("six\n")
        assert.strictEqual(yield* v6.receive("*l"), "six")
        const v4 = yield* Effect.flip(Tcp.connect({ host: "127.0.0.1", port: only.address.port }))
        assert.strictEqual(v4._tag, "ConnectionRefused")
        // dual stack without it
        const dual = yield* Tcp.serve({ host: "::", port: 0, handler: echo })
        const mapped = yield* Tcp.connect({ host: "127.0.0.1", port: dual.address.port })
        yield* mapped.send("four\n")
        assert.strictEqual(yield* mapped.receive("*l"), "four")
      })))
  })
})
