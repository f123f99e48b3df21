import * as NodeDns from "@effect/platform-node/NodeDns"
import { assert, describe, it } from "@effect/vitest"
import * as Cause from "effect/Cause"
import * as Deferred from "effect/Deferred"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as Fiber from "effect/Fiber"
import * as Layer from "effect/Layer"
import * as Dns from "effect/net/Dns"
import * as Queue from "effect/Queue"
import * as Ref from "effect/Ref"
import * as Schedule from "effect/Schedule"
import * as Scope from "effect/Scope"
import * as ChildProcess from "node:child_process"
import * as Dgram from "node:dgram"
import * as DatagramBuffer from "../../src/net/DatagramBuffer.ts"
import type * as Errors from "../../src/net/Errors.ts"
import { Udp } from "../../src/net/index.ts"

// =============================================================================
// Support
// =============================================================================

const UdpLive = Udp.layer.pipe(Layer.provide(NodeDns.layer))

/** Bounds a network test and gives it the live UDP service. */
const live = <A, E>(effect: Effect.Effect<A, E, any>, timeout: `${number} seconds` = "5 seconds") =>
  effect.pipe(Effect.timeout(timeout), Effect.provide(UdpLive)) as Effect.Effect<A, unknown, any>

const text = (data: Uint8Array): string => Buffer.from(data.buffer, data.byteOffset, data.byteLength).toString()

interface Peer {
  readonly child: ChildProcess.ChildProcess
  /** The next line the peer printed. */
  readonly line: Effect.Effect<string, Error>
  /** Waits for the peer to exit and returns its exit code. */
  readonly exit: Effect.Effect<number | null>
}

/** Runs a python3 peer; it is killed by PID when the test's scope closes. */
const python = (script: string, ...args: Array<string>) =>
  Effect.acquireRelease(
    Effect.sync((): Peer => {
      const child = ChildProcess.spawn("python3", ["-u", "-c", script, ...args], { stdio: ["ignore", "pipe", "pipe"] })
      const lines: Array<string> = []
      const waiting: Array<(effect: Effect.Effect<string, Error>) => void> = []
      let pending = ""
      let errors = ""
      let ended = false
      const failed = () => new Error(`python peer ended: ${errors.trim()}`)
      child.stdout!.on("data", (chunk: Buffer) => {
        pending += chunk.toString()
        let at: number
        while ((at = pending.indexOf("\n")) >= 0) {
          const line = pending.slice(0, at)
          pending = pending.slice(at + 1)
          const taker = waiting.shift()
          if (taker === undefined) lines.push(line)
          else taker(Effect.succeed(line))
        }
      })
      child.stderr!.on("data", (chunk: Buffer) => {
        errors += chunk.toString()
      })
      child.on("close", () => {
        ended = true
        for (const taker of waiting.splice(0)) taker(Effect.fail(failed()))
      })
      return {
        child,
        line: Effect.callback<string, Error>((resume) => {
          const line = lines.shift()
          if (line !== undefined) return resume(Effect.succeed(line))
          if (ended) return resume(Effect.fail(failed()))
          waiting.push(resume)
        }),
        exit: Effect.callback<number | null>((resume) => {
          if (child.exitCode !== null || child.signalCode !== null) return resume(Effect.succeed(child.exitCode))
          child.once("close", (code) => resume(Effect.succeed(code)))
        })
      }
    }),
    ({ child }) =>
      Effect.sync(() => {
        if (child.pid !== undefined && child.exitCode === null && child.signalCode === null) {
          try {
            process.kill(child.pid, "SIGKILL")
          } catch {
            // already gone
          }
        }
      })
  )

/** Sends each argument to the server and prints `<own port> <echo>`. */
const pythonClient = `
import socket, sys
host, port = sys.argv[1], int(sys.argv[2])
s = socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET, socket.SOCK_DGRAM)
s.settimeout(5)
s.bind((host, 0))
for message in sys.argv[3:]:
    s.sendto(message.encode(), (host, port))
    data, _ = s.recvfrom(65535)
    print(s.getsockname()[1], data.decode())
`

/** Prints its port, answers one datagram in upper case, prints the sender's port. */
const pythonServer = `
import socket, sys
host = sys.argv[1]
s = socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET, socket.SOCK_DGRAM)
s.settimeout(5)
s.bind((host, 0))
print(s.getsockname()[1])
data, addr = s.recvfrom(65535)
s.sendto(data.upper(), addr)
print(addr[1])
`

const echo = ({ data, reply }: Udp.Incoming) => reply(data)

/** A port nobody listens on: bound, read, released. */
const freePort = (type: "udp4" | "udp6", host: string) =>
  Effect.scoped(Effect.map(Udp.bind({ type, host, port: 0 }), (socket) => socket.localAddress.port))

/** Whether the kernel delivers multicast on loopback, tried with plain `node:dgram`. */
const probeMulticast = (type: "udp4" | "udp6", group: string, iface: string): Promise<string | undefined> =>
  new Promise((resolve) => {
    const rx = Dgram.createSocket({ type, reuseAddr: true })
    const tx = Dgram.createSocket(type)
    let done = false
    const finish = (reason: string | undefined) => {
      if (done) return
      done = true
      clearTimeout(timer)
      for (const s of [rx, tx]) {
        try {
          s.close()
        } catch {
          // not bound
        }
      }
      resolve(reason)
    }
    const timer = setTimeout(() => finish("no multicast datagram came back within 1 s"), 1000)
    rx.on("error", (e) => finish(`receiver: ${e.message}`))
    tx.on("error", (e) => finish(`sender: ${e.message}`))
    rx.on("message", () => finish(undefined))
    rx.bind(0, type === "udp6" ? `${group}%lo` : group, () => {
      try {
        rx.addMembership(group, iface)
      } catch (e) {
        return finish(`addMembership: ${(e as Error).message}`)
      }
      tx.bind(0, type === "udp6" ? "::1" : "127.0.0.1", () => {
        try {
          tx.setMulticastInterface(iface)
          tx.setMulticastLoopback(true)
        } catch (e) {
          return finish(`setMulticastInterface: ${(e as Error).message}`)
        }
        tx.send("probe", rx.address().port, type === "udp6" ? `${group}%lo` : group, (e) => {
          if (e) finish(`send: ${e.message}`)
        })
      })
    })
  })

const group4 = "239.255.77.1"
const group6 = "ff01::77:1"
const multicast4 = await probeMulticast("udp4", group4, "127.0.0.1")
const multicast6 = await probeMulticast("udp6", group6, "::%lo")
for (const [name, reason] of [["IPv4", multicast4], ["IPv6", multicast6]] as const) {
  if (reason !== undefined) {
    console.log(`SKIP Udp ${name} multicast on loopback: the kernel does not allow it (${reason})`)
  }
}

// =============================================================================
// DatagramBuffer
// =============================================================================

describe("DatagramBuffer", () => {
  it.effect("hands buffered datagrams out in order and drops the newest when full", () =>
    Effect.gen(function*() {
      const buffer = DatagramBuffer.makeUnsafe<number, string>(3)
      for (let i = 0; i < 5; i++) buffer.offerUnsafe(i)
      assert.strictEqual(buffer.size, 3)
      assert.strictEqual(buffer.dropped, 2)
      assert.deepStrictEqual([yield* buffer.take, yield* buffer.take, yield* buffer.take], [0, 1, 2])
      assert.isTrue(buffer.offerUnsafe(9))
      assert.strictEqual(yield* buffer.take, 9)
    }))

  it.effect("bounds the bytes held: a datagram that would pass maxBytes is dropped, taking frees its bytes", () =>
    Effect.gen(function*() {
      const buffer = DatagramBuffer.makeUnsafe<string, string>(100, { maxBytes: 10, sizeOf: (s) => s.length })
      assert.isTrue(buffer.offerUnsafe("aaaa"))
      assert.isTrue(buffer.offerUnsafe("bbbb"))
      assert.isFalse(buffer.offerUnsafe("ccc"))
      assert.isTrue(buffer.offerUnsafe("dd"))
      assert.isFalse(buffer.offerUnsafe("e"))
      assert.strictEqual(buffer.bytes, 10)
      assert.strictEqual(buffer.dropped, 2)
      assert.strictEqual(yield* buffer.take, "aaaa")
      assert.strictEqual(buffer.bytes, 6)
      assert.isTrue(buffer.offerUnsafe("ffff"))
      assert.isFalse(buffer.offerUnsafe("0123456789ab"))
      const out: Array<string> = []
      while (buffer.size > 0) out.push(yield* buffer.take)
      assert.deepStrictEqual(out, ["bbbb", "dd", "ffff"])
      assert.strictEqual(buffer.bytes, 0)
      assert.strictEqual(buffer.dropped, 3)
    }))

  it.effect("grows its ring past the first slots without reordering", () =>
    Effect.gen(function*() {
      const buffer = DatagramBuffer.makeUnsafe<number, string>(100)
      for (let i = 0; i < 10; i++) buffer.offerUnsafe(i)
      for (let i = 0; i < 5; i++) yield* buffer.take
      for (let i = 10; i < 40; i++) buffer.offerUnsafe(i)
      const out: Array<number> = []
      while (buffer.size > 0) out.push(yield* buffer.take)
      assert.deepStrictEqual(out, Array.from({ length: 35 }, (_, i) => i + 5))
      assert.strictEqual(buffer.dropped, 0)
    }))

  it.effect("parks a taker until a datagram comes, and gives it that datagram directly", () =>
    Effect.gen(function*() {
      const buffer = DatagramBuffer.makeUnsafe<string, string>(1)
      const fiber = yield* Effect.forkChild(buffer.take)
      yield* Effect.yieldNow
      assert.isUndefined(fiber.pollUnsafe())
      buffer.offerUnsafe("a")
      buffer.offerUnsafe("b")
      assert.strictEqual(yield* Fiber.join(fiber), "a")
      assert.strictEqual(buffer.size, 1)
      assert.strictEqual(buffer.dropped, 0)
    }))

  it.effect("delivers a pending error once: to a parked taker, else to the next operation", () =>
    Effect.gen(function*() {
      const buffer = DatagramBuffer.makeUnsafe<string, string>(4)
      const fiber = yield* Effect.forkChild(Effect.flip(buffer.take))
      yield* Effect.yieldNow
      buffer.failUnsafe("refused")
      assert.strictEqual(yield* Fiber.join(fiber), "refused")
      buffer.failUnsafe("again")
      assert.strictEqual(buffer.pollErrorUnsafe(), "again")
      assert.isUndefined(buffer.pollErrorUnsafe())
      buffer.offerUnsafe("x")
      buffer.failUnsafe("late")
      assert.strictEqual(yield* buffer.take, "x")
      assert.strictEqual(yield* Effect.flip(buffer.take), "late")
    }))

  it.effect("closing fails parked and later takers", () =>
    Effect.gen(function*() {
      const buffer = DatagramBuffer.makeUnsafe<string, string>(4)
      const fiber = yield* Effect.forkChild(Effect.flip(buffer.take))
      yield* Effect.yieldNow
      buffer.closeUnsafe("closed")
      assert.strictEqual(yield* Fiber.join(fiber), "closed")
      assert.strictEqual(yield* Effect.flip(buffer.take), "closed")
      assert.isFalse(buffer.offerUnsafe("x"))
      assert.isTrue(buffer.closed)
    }))

  it.effect("an interrupted taker does not swallow the next datagram", () =>
    Effect.gen(function*() {
      const buffer = DatagramBuffer.makeUnsafe<string, string>(4)
      const fiber = yield* Effect.forkChild(buffer.take)
      yield* Effect.yieldNow
      yield* Fiber.interrupt(fiber)
      buffer.offerUnsafe("kept")
      assert.strictEqual(buffer.size, 1)
      assert.strictEqual(yield* buffer.take, "kept")
    }))
})

// =============================================================================
// Udp
// =============================================================================

describe("Udp", () => {
  describe("sockets", () => {
    for (const [type, host] of [["udp4", "127.0.0.1"], ["udp6", "::1"]] as const) {
      it.live(`${type}: a python3 peer gets our datagram and answers it (receiveFrom/sendTo)`, () =>
        live(Effect.gen(function*() {
          const peer = yield* python(pythonServer, host)
          const peerPort = Number(yield* peer.line)
          const socket = yield* Udp.bind({ host: host, port: 0 })
          assert.strictEqual(socket.localAddress.address, host)
          assert.strictEqual(socket.localAddress.family, type === "udp6" ? "IPv6" : "IPv4")
          assert.isAbove(socket.localAddress.port, 0)
          yield* socket.sendTo("hello peer", host, peerPort)
          const answer = yield* socket.receiveFrom()
          assert.strictEqual(text(answer.data), "HELLO PEER")
          assert.strictEqual(answer.address, host)
          assert.strictEqual(answer.port, peerPort)
          assert.strictEqual(Number(yield* peer.line), socket.localAddress.port)
          assert.strictEqual(yield* peer.exit, 0)
        })))
    }

    it.live("resolves host names through the Dns service, and only for names", () =>
      Effect.gen(function*() {
        const zone = Dns.layerStatic({ hosts: { "peer.test": ["127.0.0.1"] } })
        const program = Effect.gen(function*() {
          const a = yield* Udp.bind({ host: "127.0.0.1" })
          const b = yield* Udp.bind({ host: "peer.test" })
          assert.strictEqual(b.localAddress.address, "127.0.0.1")
          yield* a.sendTo("by name", "peer.test", b.localAddress.port)
          const got = yield* b.receiveFrom()
          assert.strictEqual(text(got.data), "by name")
          const unknown = yield* Effect.flip(a.sendTo("x", "nowhere.test", b.localAddress.port))
          assert.strictEqual(unknown._tag, "DnsError")
          assert.strictEqual(unknown._tag === "DnsError" && unknown.reason, "NotFound")
        })
        yield* program.pipe(
          Effect.timeout("5 seconds"),
          Effect.provide(Udp.layer.pipe(Layer.provide(Layer.orDie(zone))))
        )
      }))

    it.live("connects: send/receive with the peer, remoteAddress set", () =>
      live(Effect.gen(function*() {
        const server = yield* Udp.bind({ host: "127.0.0.1" })
        const client = yield* Udp.bind({ host: "127.0.0.1" })
        assert.isUndefined(client.remoteAddress)
        yield* client.connect("127.0.0.1", server.localAddress.port)
        assert.deepStrictEqual(client.remoteAddress, {
          address: "127.0.0.1",
          port: server.localAddress.port,
          family: "IPv4"
        })
        yield* client.send("ping")
        const ping = yield* server.receiveFrom()
        assert.strictEqual(text(ping.data), "ping")
        assert.strictEqual(ping.port, client.localAddress.port)
        yield* server.sendTo("pong", ping.address, ping.port)
        assert.strictEqual(text(yield* client.receive()), "pong")
        const wrong = yield* Effect.flip(client.sendTo("x", "127.0.0.1", server.localAddress.port))
        assert.strictEqual(wrong._tag, "SocketError")
        yield* client.disconnect()
        assert.isUndefined(client.remoteAddress)
        const unconnected = yield* Effect.flip(client.send("x"))
        assert.strictEqual(unconnected._tag, "SocketError")
        assert.strictEqual(unconnected._tag === "SocketError" && unconnected.code, "ENOTCONN")
      })))

    for (const [type, host] of [["udp4", "127.0.0.1"], ["udp6", "::1"]] as const) {
      it.live(`${type}: a connected socket reports an ICMP port unreachable as ConnectionRefused`, () =>
        live(Effect.gen(function*() {
          const port = yield* freePort(type, host)
          const socket = yield* Udp.bind({ host: host })
          yield* socket.connect(host, port)
          // Linux returns the ICMP report as an error of the next recvmsg; send again
          // in case one report is lost, each wait bounded
          const refused = yield* socket.send("anyone?").pipe(
            Effect.andThen(socket.receive().pipe(Effect.timeout("300 millis"))),
            Effect.flip,
            Effect.repeat({ until: (e) => e._tag === "ConnectionRefused", times: 10 })
          )
          assert.strictEqual(refused._tag, "ConnectionRefused")
          assert.strictEqual(refused._tag === "ConnectionRefused" && refused.port, port)
          assert.strictEqual(refused._tag === "ConnectionRefused" && refused.code, "ECONNREFUSED")
        })))
    }

    for (const [type, host, max] of [["udp4", "127.0.0.1", 65507], ["udp6", "::1", 65527]] as const) {
      it.live(`${type}: a datagram above ${max} bytes fails with MessageTooLarge; ${max} bytes go through`, () =>
        live(Effect.gen(function*() {
          const rx = yield* Udp.bind({ host: host, recvBufferSize: 256 * 1024 })
          const tx = yield* Udp.bind({ host: host })
          assert.strictEqual(tx.maxDatagramSize, max)
          const tooLarge = yield* Effect.flip(tx.sendTo(new Uint8Array(max + 1), host, rx.localAddress.port))
          assert.strictEqual(tooLarge._tag, "MessageTooLarge")
          const e = tooLarge as Errors.MessageTooLarge
          assert.strictEqual(e.size, max + 1)
          assert.strictEqual(e.maxSize, max)
          yield* tx.sendTo(new Uint8Array(max).fill(7), host, rx.localAddress.port)
          const got = yield* rx.receiveFrom()
          assert.strictEqual(got.data.byteLength, max)
          assert.strictEqual(got.data[max - 1], 7)
        })))
    }

    it.live("a smaller maxDatagramSize is enforced on send and on a connected send", () =>
      live(Effect.gen(function*() {
        const rx = yield* Udp.bind({ host: "127.0.0.1" })
        const tx = yield* Udp.bind({ host: "127.0.0.1", maxDatagramSize: 512 })
        yield* tx.connect("127.0.0.1", rx.localAddress.port)
        const e = yield* Effect.flip(tx.send("x".repeat(513)))
        assert.strictEqual(e._tag, "MessageTooLarge")
        yield* tx.send("x".repeat(512))
        assert.strictEqual((yield* rx.receive()).byteLength, 512)
      })))

    it.live("broadcast needs setBroadcast (loopback broadcast 127.255.255.255)", () =>
      live(Effect.gen(function*() {
        const rx = yield* Udp.bind({ host: "127.255.255.255", reuseAddr: true })
        const tx = yield* Udp.bind({ host: "127.0.0.1" })
        const denied = yield* Effect.flip(tx.sendTo("all", "127.255.255.255", rx.localAddress.port))
        assert.strictEqual(denied._tag, "SocketError")
        assert.strictEqual(denied._tag === "SocketError" && denied.code, "EACCES")
        yield* tx.setBroadcast(true)
        yield* tx.sendTo("all", "127.255.255.255", rx.localAddress.port)
        const got = yield* rx.receiveFrom()
        assert.strictEqual(text(got.data), "all")
        assert.strictEqual(got.port, tx.localAddress.port)
      })))

    it.live.skipIf(multicast4 !== undefined)(
      `IPv4 multicast on loopback: join, receive, leave${multicast4 === undefined ? "" : ` (skipped: ${multicast4})`}`,
      () =>
        live(Effect.gen(function*() {
          const rx = yield* Udp.bind({ host: group4, reuseAddr: true })
          yield* rx.addMembership(group4, "127.0.0.1")
          const tx = yield* Udp.bind({ host: "127.0.0.1" })
          yield* tx.setMulticastInterface("127.0.0.1")
          yield* tx.setMulticastTTL(1)
          yield* tx.setMulticastLoopback(true)
          yield* tx.sendTo("to the group", group4, rx.localAddress.port)
          const got = yield* rx.receiveFrom()
          assert.strictEqual(text(got.data), "to the group")
          assert.strictEqual(got.port, tx.localAddress.port)
          yield* rx.dropMembership(group4, "127.0.0.1")
          const notMember = yield* Effect.flip(rx.dropMembership(group4, "127.0.0.1"))
          assert.strictEqual(notMember._tag, "SocketError")
        }))
    )

    it.live.skipIf(multicast6 !== undefined)(
      `IPv6 multicast on loopback: join, receive, leave${multicast6 === undefined ? "" : ` (skipped: ${multicast6})`}`,
      () =>
        live(Effect.gen(function*() {
          const rx = yield* Udp.bind({ host: `${group6}%lo`, type: "udp6", reuseAddr: true })
          yield* rx.addMembership(group6, "::%lo")
          const tx = yield* Udp.bind({ host: "::1" })
          yield* tx.setMulticastInterface("::%lo")
          yield* tx.setMulticastLoopback(true)
          yield* tx.sendTo("to the group", `${group6}%lo`, rx.localAddress.port)
          assert.strictEqual(text((yield* rx.receiveFrom()).data), "to the group")
          yield* rx.dropMembership(group6, "::%lo")
        }))
    )

    it.live("bounds the receive buffer: the newest datagrams are dropped and counted", () =>
      live(Effect.gen(function*() {
        const rx = yield* Udp.bind({ host: "127.0.0.1", receiveQueueCapacity: 4 })
        const tx = yield* Udp.bind({ host: "127.0.0.1" })
        for (let i = 0; i < 10; i++) yield* tx.sendTo(`m${i}`, "127.0.0.1", rx.localAddress.port)
        // nobody reads yet: wait (bounded) until Node has handed all ten over
        yield* Effect.sync(() => rx.dropped).pipe(
          Effect.repeat({ schedule: Schedule.spaced("5 millis"), until: (n) => n >= 6 })
        )
        const kept: Array<string> = []
        for (let i = 0; i < 4; i++) kept.push(text((yield* rx.receiveFrom()).data))
        assert.deepStrictEqual(kept, ["m0", "m1", "m2", "m3"])
        assert.strictEqual(rx.dropped, 6)
      })))

    it.live("bounds the receive buffer in bytes: datagrams that would pass receiveQueueBytes are dropped", () =>
      live(Effect.gen(function*() {
        const rx = yield* Udp.bind({ host: "127.0.0.1", receiveQueueCapacity: 100, receiveQueueBytes: 3500 })
        const tx = yield* Udp.bind({ host: "127.0.0.1" })
        const port = rx.localAddress.port
        // 3 x 1000 bytes fit (3000), 600 more would pass 3500, 400 more fit (3400), then 4 x 1000 do not
        const sizes = [1000, 1000, 1000, 600, 400, 1000, 1000, 1000, 1000]
        for (const [i, size] of sizes.entries()) yield* tx.sendTo(String(i).padEnd(size, "."), "127.0.0.1", port)
        // nobody reads yet: wait (bounded) until Node has handed all nine over
        yield* Effect.sync(() => rx.dropped).pipe(
          Effect.repeat({ schedule: Schedule.spaced("5 millis"), until: (n) => n >= 5 })
        )
        const kept: Array<string> = []
        for (let i = 0; i < 4; i++) {
          const { data } = yield* rx.receiveFrom()
          kept.push(`${text(data)[0]}:${data.byteLength}`)
        }
        assert.deepStrictEqual(kept, ["0:1000", "1:1000", "2:1000", "4:400"])
        assert.strictEqual(rx.dropped, 5)
        // the bytes taken are free again
        yield* tx.sendTo("again".padEnd(3000, "."), "127.0.0.1", port)
        assert.strictEqual((yield* rx.receive()).byteLength, 3000)
      })))

    it.live("close is an idempotent Effect: pending receivers fail with SocketClosed, the scope closes it again", () =>
      live(Effect.gen(function*() {
        const socket = yield* Udp.bind({ host: "127.0.0.1" })
        const pending = yield* Effect.forkChild(Effect.flip(socket.receiveFrom()))
        yield* Effect.yieldNow
        assert.isUndefined(pending.pollUnsafe())
        const close: Effect.Effect<void> = socket.close
        yield* close
        yield* close
        assert.strictEqual((yield* Fiber.join(pending))._tag, "SocketClosed")
        assert.strictEqual((yield* Effect.flip(socket.send("x")))._tag, "SocketClosed")
      })))

    it.live("closing the scope fails pending receivers with SocketClosed, and later operations too", () =>
      live(Effect.gen(function*() {
        const scope = yield* Scope.make()
        const socket = yield* Udp.bind({ host: "127.0.0.1" }).pipe(Scope.provide(scope))
        const pending = yield* Effect.forkChild(Effect.flip(socket.receiveFrom()))
        yield* Effect.yieldNow
        assert.isUndefined(pending.pollUnsafe())
        yield* Scope.close(scope, Exit.void)
        const error = yield* Fiber.join(pending)
        assert.strictEqual(error._tag, "SocketClosed")
        const send = yield* Effect.flip(socket.sendTo("x", "127.0.0.1", 9))
        assert.strictEqual(send._tag, "SocketClosed")
        const option = yield* Effect.flip(socket.setBroadcast(true))
        assert.strictEqual(option._tag, "SocketClosed")
      })))

    it.live("a taken port fails with AddressInUse", () =>
      live(Effect.gen(function*() {
        const first = yield* Udp.bind({ host: "127.0.0.1" })
        const error = yield* Effect.flip(Udp.bind({ host: "127.0.0.1", port: first.localAddress.port }))
        assert.strictEqual(error._tag, "AddressInUse")
        assert.strictEqual(error._tag === "AddressInUse" && error.code, "EADDRINUSE")
        assert.strictEqual(
          error.message,
          `address 127.0.0.1:${first.localAddress.port} already in use (EADDRINUSE)`
        )
      })))
  })

  describe("serve", () => {
    for (const [type, host] of [["udp4", "127.0.0.1"], ["udp6", "::1"]] as const) {
      it.live(`${type}: echoes a python3 client's datagrams, each handled with the sender's address`, () =>
        live(Effect.gen(function*() {
          const senders = yield* Ref.make<Array<string>>([])
          const server = yield* Udp.serve({
            host: host,
            port: 0,
            handler: (d) =>
              Ref.update(senders, (all) => [...all, `${d.family} ${d.address}`]).pipe(
                Effect.andThen(d.reply(`echo:${text(d.data)}`))
              )
          })
          assert.strictEqual(server.address.address, host)
          const peer = yield* python(pythonClient, host, String(server.address.port), "one", "two", "three")
          const lines = [yield* peer.line, yield* peer.line, yield* peer.line]
          const peerPort = lines[0]!.split(" ")[0]
          assert.deepStrictEqual(lines, [`${peerPort} echo:one`, `${peerPort} echo:two`, `${peerPort} echo:three`])
          assert.strictEqual(yield* peer.exit, 0)
          const family = type === "udp6" ? "IPv6" : "IPv4"
          assert.deepStrictEqual(yield* Ref.get(senders), [1, 2, 3].map(() => `${family} ${host}`))
          assert.strictEqual(server.received, 3)
          assert.strictEqual(server.failures, 0)
        })))
    }

    it.live("serves many senders at once", () =>
      live(Effect.gen(function*() {
        const server = yield* Udp.serve({ host: "127.0.0.1", port: 0, handler: echo })
        const senders = 20
        const each = 10
        const results = yield* Effect.forEach(
          Array.from({ length: senders }, (_, i) => i),
          (i) =>
            Effect.gen(function*() {
              const socket = yield* Udp.bind({ host: "127.0.0.1" })
              const got: Array<string> = []
              for (let j = 0; j < each; j++) {
                yield* socket.sendTo(`${i}:${j}`, "127.0.0.1", server.address.port)
                got.push(text((yield* socket.receiveFrom()).data))
              }
              return got
            }),
          { concurrency: "unbounded" }
        )
        for (let i = 0; i < senders; i++) {
          assert.deepStrictEqual(results[i], Array.from({ length: each }, (_, j) => `${i}:${j}`))
        }
        assert.strictEqual(server.received, senders * each)
        assert.strictEqual(server.dropped, 0)
      })))

    it.live("a failing or dying handler is counted and reported; the server goes on", () =>
      live(Effect.gen(function*() {
        const reported = yield* Queue.unbounded<string>()
        const server = yield* Udp.serve({
          host: "127.0.0.1",
          port: 0,
          handler: ({ data, reply }): Effect.Effect<void, "failed" | Udp.SendError> => {
            const body = text(data)
            if (body === "throw") throw new Error("thrown")
            if (body === "die") return Effect.die("died")
            if (body === "fail") return Effect.fail("failed" as const)
            return reply(body)
          },
          onError: (cause, datagram) =>
            Queue.offer(reported, `${text(datagram.data)}:${Cause.hasFails(cause) ? "fail" : "die"}`).pipe(
              Effect.asVoid
            )
        })
        const client = yield* Udp.bind({ host: "127.0.0.1" })
        for (const body of ["fail", "die", "throw"]) yield* client.sendTo(body, "127.0.0.1", server.address.port)
        const reports = [yield* Queue.take(reported), yield* Queue.take(reported), yield* Queue.take(reported)]
        assert.deepStrictEqual(reports.sort(), ["die:die", "fail:fail", "throw:die"])
        yield* client.sendTo("still here", "127.0.0.1", server.address.port)
        assert.strictEqual(text((yield* client.receiveFrom()).data), "still here")
        assert.strictEqual(server.failures, 3)
        assert.strictEqual(server.received, 4)
      })))

    it.live("a handler sees the datagram and reply only, never the socket", () =>
      live(Effect.gen(function*() {
        const seen = yield* Deferred.make<Array<string>>()
        const server = yield* Udp.serve({
          host: "127.0.0.1",
          port: 0,
          handler: (incoming) =>
            Deferred.succeed(seen, Object.keys(incoming).sort()).pipe(Effect.andThen(incoming.reply("ok")))
        })
        const client = yield* Udp.bind({ host: "127.0.0.1" })
        yield* client.sendTo("hi", "127.0.0.1", server.address.port)
        assert.deepStrictEqual(yield* Deferred.await(seen), ["address", "data", "family", "port", "reply"])
        assert.strictEqual(text((yield* client.receiveFrom()).data), "ok")
      })))

    it.live("runs at most `concurrency` handlers; the rest wait in the receive buffer", () =>
      live(Effect.gen(function*() {
        const started = yield* Queue.unbounded<string>()
        const gate = yield* Deferred.make<void>()
        let running = 0
        let peak = 0
        const server = yield* Udp.serve({
          host: "127.0.0.1",
          port: 0,
          concurrency: 2,
          handler: ({ data, reply }) =>
            Effect.gen(function*() {
              running++
              peak = Math.max(peak, running)
              yield* Queue.offer(started, text(data))
              yield* Deferred.await(gate)
              running--
              yield* reply(data)
            })
        })
        const client = yield* Udp.bind({ host: "127.0.0.1" })
        for (let i = 0; i < 5; i++) yield* client.sendTo(`d${i}`, "127.0.0.1", server.address.port)
        const first = [yield* Queue.take(started), yield* Queue.take(started)]
        assert.deepStrictEqual(first, ["d0", "d1"])
        assert.strictEqual(server.received, 2)
        assert.strictEqual(server.active, 2)
        yield* Deferred.succeed(gate, undefined)
        const replies: Array<string> = []
        for (let i = 0; i < 5; i++) replies.push(text((yield* client.receiveFrom()).data))
        assert.deepStrictEqual(replies.sort(), ["d0", "d1", "d2", "d3", "d4"])
        assert.strictEqual(peak, 2)
        assert.strictEqual(server.received, 5)
      })))

    it.live("at the concurrency limit, waiting datagrams are bounded in bytes too", () =>
      live(Effect.gen(function*() {
        const started = yield* Queue.unbounded<string>()
        const gate = yield* Deferred.make<void>()
        const server = yield* Udp.serve({
          host: "127.0.0.1",
          port: 0,
          concurrency: 1,
          receiveQueueBytes: 2500,
          handler: ({ data }) =>
            Queue.offer(started, `${text(data)[0]}:${data.byteLength}`).pipe(Effect.andThen(Deferred.await(gate)))
        })
        const client = yield* Udp.bind({ host: "127.0.0.1" })
        yield* client.sendTo("0", "127.0.0.1", server.address.port)
        assert.strictEqual(yield* Queue.take(started), "0:1")
        // the handler holds the only slot: 2 x 1000 bytes wait, the third would pass 2500 bytes
        for (const i of [1, 2, 3]) yield* client.sendTo(String(i).padEnd(1000, "."), "127.0.0.1", server.address.port)
        yield* Effect.sync(() => server.dropped).pipe(
          Effect.repeat({ schedule: Schedule.spaced("5 millis"), until: (n) => n >= 1 })
        )
        yield* Deferred.succeed(gate, undefined)
        assert.deepStrictEqual([yield* Queue.take(started), yield* Queue.take(started)], ["1:1000", "2:1000"])
        assert.strictEqual(server.dropped, 1)
        assert.strictEqual(server.received, 3)
      })))

    it.live("closing the server scope interrupts running handlers and closes the socket", () =>
      live(Effect.gen(function*() {
        const scope = yield* Scope.make()
        const started = yield* Deferred.make<void>()
        const interrupted = yield* Deferred.make<void>()
        const server = yield* Udp.serve({
          host: "127.0.0.1",
          port: 0,
          handler: () =>
            Deferred.succeed(started, undefined).pipe(
              Effect.andThen(Effect.never),
              Effect.onInterrupt(() => Deferred.succeed(interrupted, undefined))
            )
        }).pipe(Scope.provide(scope))
        const client = yield* Udp.bind({ host: "127.0.0.1" })
        yield* client.sendTo("block", "127.0.0.1", server.address.port)
        yield* Deferred.await(started)
        yield* Scope.close(scope, Exit.void)
        yield* Deferred.await(interrupted)
        assert.strictEqual(server.failures, 0)
        // the port is free again
        const again = yield* Udp.bind({ host: "127.0.0.1", port: server.address.port })
        assert.strictEqual(again.localAddress.port, server.address.port)
      })))
  })

  it.effect("the service fails a bind on an unknown name with DnsError, without touching the network", () =>
    Effect.gen(function*() {
      const error = yield* Effect.flip(Udp.bind({ host: "missing.test" }))
      assert.strictEqual(error._tag, "DnsError")
      assert.strictEqual(error._tag === "DnsError" && error.host, "missing.test")
    }).pipe(Effect.provide(Udp.layer.pipe(Layer.provide(Layer.orDie(Dns.layerStatic({})))))))
})
