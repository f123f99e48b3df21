import { afterAll, assert, describe, it } from "@effect/vitest"
import * as Deferred from "effect/Deferred"
import * as Effect from "effect/Effect"
import * as Fiber from "effect/Fiber"
import * as Layer from "effect/Layer"
import * as ManagedRuntime from "effect/ManagedRuntime"
import type * as Net from "node:net"
import * as Connection from "../../src/net/Connection.ts"
import * as Tcp from "../../src/net/Tcp.ts"
import { Certs, CertsLive } from "./certs.ts"
import { rawClient, rawPair, rawWrite, readBytes, readToEnd, TcpLive } from "./support.ts"

/** Bounds a network test and gives it the live TCP service. */
const live = <A, E>(effect: Effect.Effect<A, E, any>) =>
  effect.pipe(Effect.timeout("8 seconds"), Effect.provide(TcpLive)) as Effect.Effect<A, unknown, any>

// The TLS test's certificates are made on first use and removed after the file.
const certsRuntime = ManagedRuntime.make(CertsLive)
afterAll(() => certsRuntime.dispose())


/** Counts the writes (one per syscall) a socket hands to its handle from now on. */
const countWrites = (socket: Net.Socket): { readonly count: number } => {
  const counter = { count: 0 }
  const raw = socket as unknown as Record<"_write" | "_writev", (...args: Array<unknown>) => unknown>
  for (const key of ["_write", "_writev"] as const) {
    const original = raw[key]
    raw[key] = function(this: unknown, ...args: Array<unknown>) {
      counter.count++
      return original.apply(this, args)
    }
  }
  return counter
}

/** Starts counting what a raw socket receives now; the effect waits until `n` bytes have come (or the socket ends). */
const countBytes = (socket: Net.Socket, n: number) => {
  const done = Deferred.makeUnsafe<number>()
  let got = 0
  socket.on("data", (chunk: Buffer) => {
    got += chunk.length
    if (got >= n) Deferred.doneUnsafe(done, Effect.succeed(got))
  })
  socket.once("close", () => Deferred.doneUnsafe(done, Effect.succeed(got)))
  return Deferred.await(done)
}

/** The next `n` bytes a raw socket receives. */
const readRaw = (socket: Net.Socket, n: number) =>
  Effect.callback<Buffer>((resume) => {
    const chunks: Array<Buffer> = []
    let got = 0
    const onData = (chunk: Buffer) => {
      chunks.push(chunk)
      got += chunk.length
      if (got >= n) {
        socket.off("data", onData)
        resume(Effect.succeed(Buffer.concat(chunks)))
      }
    }
    socket.on("data", onData)
  })

const lines = (n: number, f: (i: number) => string) => Array.from({ length: n }, (_, i) => f(i)).join("")

/** Answers every line with `+<line>\r\n`, one send per reply. */
const answer = Effect.fnUntraced(function*(conn: Connection.Connection) {
  for (;;) yield* conn.send(`+${yield* conn.receive()}\r\n`)
})

describe("Connection send coalescing", () => {
  it.live("the replies to 16 pipelined requests go out in one write, complete and in order", () =>
    live(Effect.gen(function*() {
      const { peer, server } = yield* rawPair()
      const writes = countWrites(server.socket)
      yield* Effect.forkChild(answer(server))
      const expected = lines(16, (i) => `+req${i}\r\n`)
      yield* rawWrite(peer, lines(16, (i) => `req${i}\r\n`))
      assert.strictEqual(yield* readBytes(peer, expected.length), expected)
      assert.strictEqual(writes.count, 1)
    })))

  it.live("a reply to a lone request is written by its send, before the next read waits", () =>
    live(Effect.gen(function*() {
      const { peer, server } = yield* rawPair()
      const writes = countWrites(server.socket)
      for (const request of ["a", "b", "c"]) {
        yield* rawWrite(peer, `${request}\n`)
        const line = yield* server.receive()
        yield* server.send(`+${line}\r\n`)
        // nothing was held back: the bytes are with the kernel when send returns
        assert.strictEqual(server.socket.writableLength, 0)
        assert.strictEqual(yield* readBytes(peer, 4), `+${request}\r\n`)
      }
      assert.strictEqual(writes.count, 3)
    })))

  it.live("a batch goes out at the end of the turn while the handler does something else than reading", () =>
    live(Effect.gen(function*() {
      const { peer, server } = yield* rawPair()
      yield* rawWrite(peer, "a\nb\n")
      assert.strictEqual(yield* server.receive(), "a")
      const writes = countWrites(server.socket)
      // b is still buffered: this reply joins a batch, and no read follows to flush it
      yield* server.send("+a\r\n")
      assert.strictEqual(writes.count, 0)
      assert.strictEqual(yield* readBytes(peer, 4), "+a\r\n")
      assert.strictEqual(writes.count, 1)
      assert.strictEqual(server.buffered, 2)
    })))

  it.live("a batch sent just before the handler ends is delivered in full before the FIN", () =>
    live(Effect.gen(function*() {
      const server = yield* Tcp.serve({
        host: "127.0.0.1",
        port: 0,
        drainTimeout: 0,
        handler: Effect.fnUntraced(function*(conn) {
          for (let i = 0; i < 16; i++) yield* conn.send(`+${yield* conn.receive()}\r\n`)
          yield* conn.close
        })
      })
      const peer = yield* rawClient(server.address.port)
      yield* rawWrite(peer, lines(17, (i) => `req${i}\r\n`))
      assert.strictEqual(yield* readToEnd(peer), lines(16, (i) => `+req${i}\r\n`))
    })))

  it.live("strings in two encodings and bytes sent in one batch arrive in order, in one write", () =>
    live(Effect.gen(function*() {
      const { peer, server } = yield* rawPair()
      yield* rawWrite(peer, "a\nb\n")
      assert.strictEqual(yield* server.receive(), "a")
      const writes = countWrites(server.socket)
      // b is still buffered: every send below joins the batch
      yield* server.send("1:caf\u00e9|", "latin1")
      yield* server.send("2:\u00e9|", "latin1")
      yield* server.send("3:\u00e9|")
      yield* server.send(Buffer.from("4|"))
      yield* server.send("5:\u00e9\n", "latin1")
      assert.strictEqual(writes.count, 0)
      const expected = Buffer.concat([
        Buffer.from("1:caf\u00e9|2:\u00e9|", "latin1"),
        Buffer.from("3:\u00e9|4|"),
        Buffer.from("5:\u00e9\n", "latin1")
      ])
      assert.deepStrictEqual([...(yield* readRaw(peer, expected.length))], [...expected])
      assert.strictEqual(writes.count, 1)
      assert.strictEqual(yield* server.receive(), "b")
    })))

  for (const kind of ["bytes", "strings"] as const) {
    it.live(
      `a batch of ${kind} is sent once it reaches the high water mark, and a send waits when the kernel is full`,
      () =>
      live(Effect.gen(function*() {
        const { peer, server } = yield* rawPair()
        peer.pause()
        // input stays buffered on the server, so every send below joins a batch
        yield* rawWrite(peer, "go\nmore\n")
        assert.strictEqual(yield* server.receive(), "go")
        const chunk = kind === "bytes" ? Buffer.alloc(16 * 1024, "x") : "x".repeat(16 * 1024)
        const total = 2048 * chunk.length
        const sending = yield* Effect.forkChild(Effect.repeat(server.send(chunk), { times: 2047 }))
        // the peer is not reading: the kernel buffers fill and a send waits (polled, bounded by the test timeout)
        while (server.socket.writableLength === 0) yield* Effect.sleep(5)
        assert.isUndefined(sending.pollUnsafe())
        // what waits in user space is one batch at most, not everything sent so far
        assert.isAtMost(server.socket.writableLength, server.socket.writableHighWaterMark + chunk.length)
        assert.isBelow(server.socket.bytesWritten, total)
        const received = countBytes(peer, total)
        peer.resume()
        yield* Fiber.join(sending)
        assert.strictEqual(yield* received, total)
        assert.strictEqual(yield* server.receive(), "more")
      })))
  }

  it.live("a batched write that fails makes the next send and read fail with its error", () =>
    live(Effect.gen(function*() {
      const { peer, server } = yield* rawPair()
      // the socket's next write (one or several chunks) fails
      const fail = (...args: Array<unknown>) => (args.at(-1) as (e: Error) => void)(new Error("injected write failure"))
      Object.assign(server.socket, { _write: fail, _writev: fail })
      const failed = yield* Deferred.make<void>()
      server.socket.once("close", () => Deferred.doneUnsafe(failed, Effect.void))
      yield* rawWrite(peer, "a\nb\n")
      assert.strictEqual(yield* server.receive(), "a")
      // accepted without waiting: b is still buffered, so this send joins a batch
      yield* server.send("+a\r\n")
      yield* Deferred.await(failed)
      const sendError = yield* Effect.flip(server.send("+b\r\n"))
      assert.strictEqual(sendError._tag, "SocketError")
      assert.include(String((sendError as { cause?: unknown }).cause), "injected write failure")
      // buffered input is still readable; the read after it fails with the write's error
      assert.strictEqual(yield* server.receive(), "b")
      assert.strictEqual((yield* Effect.flip(server.receive()))._tag, "SocketError")
      assert.strictEqual((yield* Effect.flip(server.shutdown))._tag, "SocketError")
    })))
})

describe("Connection encodings", () => {
  it.live("sends a string in the encoding given and decodes received text with it", () =>
    live(Effect.gen(function*() {
      const { peer, server } = yield* rawPair()
      yield* server.send("caf\u00e9\n", "latin1")
      const bytes = yield* Effect.callback<Buffer>((resume) => {
        peer.once("data", (chunk: Buffer) => resume(Effect.succeed(chunk)))
      })
      assert.deepStrictEqual([...bytes], [0x63, 0x61, 0x66, 0xe9, 0x0a])
      yield* rawWrite(peer, Buffer.from([0x63, 0x61, 0x66, 0xe9, 0x0a, 0x68, 0x69, 0x0a]))
      assert.strictEqual(yield* server.receive("*l", "latin1"), "caf\u00e9")
      assert.strictEqual(yield* server.receive(), "hi")
      yield* server.send(Buffer.from("ok\n"), "base64")
      assert.strictEqual(yield* readBytes(peer, 3), "ok\n")
    })))
})

describe("Connection reads served from the buffer", () => {
  it.live("a read effect is lazy and reads again each time it runs, in Effect.gen and through pipe", () =>
    live(Effect.gen(function*() {
      const { peer, server } = yield* rawPair()
      yield* rawWrite(peer, "1\n2\n3\n4\nabcdef")
      while (server.buffered < 14) yield* Effect.sleep(2)
      const line = server.receive()
      const three = server.receiveBytes(3)
      // built, not run: nothing was read
      assert.strictEqual(server.buffered, 14)
      assert.deepStrictEqual([yield* line, yield* line], ["1", "2"])
      const twice = yield* line.pipe(Effect.flatMap((a) => Effect.map(line, (b) => a + b)))
      assert.strictEqual(twice, "34")
      assert.strictEqual((yield* three).toString(), "abc")
      assert.strictEqual((yield* Effect.map(three, String)), "def")
      assert.strictEqual(server.buffered, 0)
    })))

  it.live("Effect.forever over one read effect waits for data between buffered reads", () =>
    live(Effect.gen(function*() {
      const { peer, server } = yield* rawPair()
      const seen: Array<string> = []
      const reader = yield* Effect.forkChild(Effect.forever(Effect.map(server.receive(), (l) => seen.push(l))))
      yield* rawWrite(peer, "a\nb\n")
      while (seen.length < 2) yield* Effect.sleep(2)
      yield* rawWrite(peer, "c\n")
      while (seen.length < 3) yield* Effect.sleep(2)
      peer.end()
      assert.strictEqual((yield* Effect.flip(Fiber.join(reader)))._tag, "ConnectionClosed")
      assert.deepStrictEqual(seen, ["a", "b", "c"])
    })))

  it.live("one send effect run by two fibers at once, both waiting on a full kernel, sends twice", () =>
    live(Effect.gen(function*() {
      const { peer, server } = yield* rawPair()
      peer.pause()
      // larger than loopback's socket buffers can take
      const block = Buffer.alloc(16 << 20, "y")
      const send = server.send(block)
      const twice = Effect.gen(function*() {
        yield* send
        return "sent"
      })
      const first = yield* Effect.forkChild(twice)
      const second = yield* Effect.forkChild(twice)
      // the kernel buffers are full: both sends wait (polled, bounded by the test timeout)
      while (server.socket.writableLength <= block.length) yield* Effect.sleep(5)
      assert.isUndefined(first.pollUnsafe())
      const received = countBytes(peer, 2 * block.length)
      peer.resume()
      assert.deepStrictEqual([yield* Fiber.join(first), yield* Fiber.join(second)], ["sent", "sent"])
      assert.strictEqual(yield* received, 2 * block.length)
    })))

  it.live("a read effect that failed (a line too long, caught) reads again", () =>
    live(Effect.gen(function*() {
      const { peer, server } = yield* rawPair({ maxLineLength: 4 })
      const line = server.receive()
      yield* rawWrite(peer, "toolong\nok\n")
      const first = yield* Effect.flip(line)
      assert.strictEqual(first._tag, "LineTooLong")
      assert.strictEqual(yield* line, "ok")
    })))

  it.live("a send loop whose sends never wait still lets other fibers run", () =>
    live(Effect.gen(function*() {
      const { peer, server } = yield* rawPair()
      peer.resume()
      let ticks = 0
      yield* Effect.forkChild(Effect.forever(Effect.sync(() => ticks++)))
      const before = ticks
      // each one-byte send is taken by the kernel at once: none of them waits
      for (let i = 0; i < 4096; i++) yield* server.send("x")
      assert.isAbove(ticks, before)
    })))

  it.live("over TLS, pipelined replies arrive complete and in order, and a batch sent before close is delivered", () =>
    Effect.gen(function*() {
      const certs = yield* Certs
      const server = yield* Tcp.serve({
        host: "127.0.0.1",
        port: 0,
        drainTimeout: 0,
        tls: { key: certs.server.key, cert: certs.server.cert },
        handler: Effect.fnUntraced(function*(conn) {
          for (let i = 0; i < 16; i++) yield* conn.send(`+${yield* conn.receive()}\r\n`)
          yield* conn.close
        })
      })
      const client = yield* Tcp.connect({ host: "127.0.0.1", port: server.address.port, tls: { ca: certs.ca } })
      yield* client.send(lines(16, (i) => `req${i}\r\n`))
      assert.strictEqual(yield* client.receive("*a"), lines(16, (i) => `+req${i}\r\n`))
    }).pipe(
      Effect.timeout("20 seconds"),
      Effect.provide(Layer.mergeAll(TcpLive, Layer.effectContext(certsRuntime.contextEffect)))
    ))
})
