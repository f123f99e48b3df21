import { assert, describe, it } from "@effect/vitest"
import * as Deferred from "effect/Deferred"
import * as Effect from "effect/Effect"
import * as Fiber from "effect/Fiber"
import * as Stream from "effect/Stream"
import * as Net from "node:net"
import * as Connection from "../../src/net/Connection.ts"
import * as Tcp from "../../src/net/Tcp.ts"
import { rawClient, rawPair, rawWrite, readBytes, readToEnd, serverSide, TcpLive } from "./support.ts"

/** Bounds a network test and gives it the live TCP service. */
const live = <A, E>(effect: Effect.Effect<A, E, any>) =>
  effect.pipe(Effect.timeout("8 seconds"), Effect.provide(TcpLive)) as Effect.Effect<A, unknown, any>

/** A fiberloop connection on each side. */
const pair = (options?: Connection.Options) =>
  Effect.gen(function*() {
    const { accepted, port } = yield* serverSide(options)
    const client = yield* Tcp.connect({ host: "127.0.0.1", port, ...options })
    return { client, server: yield* accepted }
  })

/** A plain `node:net` server socket (no Connection yet) and the raw client connected to it. */
const plainPair = Effect.gen(function*() {
  const accepted = yield* Deferred.make<Net.Socket>()
  const plain = yield* Effect.acquireRelease(
    Effect.callback<Net.Server>((resume) => {
      const server = Net.createServer((socket) => Deferred.doneUnsafe(accepted, Effect.succeed(socket)))
      server.listen(0, "127.0.0.1", () => resume(Effect.succeed(server)))
    }),
    (server) => Effect.sync(() => server.close())
  )
  const peer = yield* rawClient((plain.address() as Net.AddressInfo).port)
  return { peer, socket: yield* Deferred.await(accepted) }
})

describe("Connection", () => {
  describe("read patterns", () => {
    it.live("reads lines without terminators and keeps empty lines apart from end of stream", () =>
      live(Effect.gen(function*() {
        const { peer, server } = yield* rawPair()
        yield* rawWrite(peer, "one\r\ntwo\n\nlast")
        peer.end()
        const lines = [yield* server.receive(), yield* server.receive(), yield* server.receive()]
        assert.deepStrictEqual(lines, ["one", "two", ""])
        const closed = yield* Effect.flip(server.receive("*l"))
        assert.strictEqual(closed._tag, "ConnectionClosed")
        assert.strictEqual(closed._tag === "ConnectionClosed" && closed.partialText, "last")
        const again = yield* Effect.flip(server.receive("*l"))
        assert.strictEqual(again._tag, "ConnectionClosed")
        assert.strictEqual(again._tag === "ConnectionClosed" && again.partial.length, 0)
      })))

    it.live("reads byte counts, delimited units and everything to the end", () =>
      live(Effect.gen(function*() {
        const { peer, server } = yield* rawPair()
        yield* rawWrite(peer, "HEAD\r\n\r\n12345rest of it")
        const head = yield* server.receive({ until: "\r\n\r\n" })
        const five = yield* server.receiveBytes(5)
        peer.end(" and more")
        const rest = yield* server.receive("*a")
        assert.strictEqual(head, "HEAD")
        assert.strictEqual(five.toString(), "12345")
        assert.strictEqual(rest, "rest of it and more")
      })))

    it.live("waits for a unit that arrives in pieces", () =>
      live(Effect.gen(function*() {
        const { peer, server } = yield* rawPair()
        const fiber = yield* Effect.forkChild(server.receive(10))
        yield* rawWrite(peer, "abc")
        yield* Effect.yieldNow
        assert.isUndefined(fiber.pollUnsafe())
        yield* rawWrite(peer, "defghij")
        assert.strictEqual(yield* Fiber.join(fiber), "abcdefghij")
      })))

    it.live("serves buffered data after the peer has gone, then reports the end", () =>
      live(Effect.gen(function*() {
        const { peer, server } = yield* rawPair()
        peer.end("a\nb\nc\n")
        // wait (polling a condition, bounded by the test timeout) until the end of stream has arrived
        while (!server.socket.readableEnded) yield* Effect.sleep(2)
        const lines = [yield* server.receive(), yield* server.receive(), yield* server.receive()]
        assert.deepStrictEqual(lines, ["a", "b", "c"])
        assert.strictEqual((yield* Effect.flip(server.receive()))._tag, "ConnectionClosed")
      })))

    it.live("returns what is there with receivePartial", () =>
      live(Effect.gen(function*() {
        const { peer, server } = yield* rawPair()
        yield* rawWrite(peer, "hello world")
        let got = ""
        while (got.length < 11) got += (yield* server.receivePartial(4)).toString()
        assert.strictEqual(got, "hello world")
      })))

    it.live("returns every buffered chunk from receivePartial, up to max", () =>
      live(Effect.gen(function*() {
        const { peer, server } = yield* rawPair()
        // two segments, each read by the server before the next is sent: two chunks in its buffer
        yield* rawWrite(peer, "abc")
        while (server.socket.bytesRead < 3) yield* Effect.sleep(2)
        yield* rawWrite(peer, "def")
        while (server.socket.bytesRead < 6) yield* Effect.sleep(2)
        assert.strictEqual((yield* server.receivePartial(5)).toString(), "abcde")
        assert.strictEqual((yield* server.receivePartial(5)).toString(), "f")
      })))

    it.live("fails a line over maxLineLength, closes that connection, and the server serves the next", () =>
      live(Effect.gen(function*() {
        const results = yield* Deferred.make<string>()
        const server = yield* Tcp.serve({
          host: "127.0.0.1",
          port: 0,
          maxLineLength: 16,
          handler: (conn) =>
            conn.receive().pipe(
              Effect.flatMap((line) => conn.send(`ok ${line}\n`)),
              Effect.tapError((e) => Deferred.succeed(results, e._tag))
            )
        })
        const flooder = yield* rawClient(server.address.port)
        flooder.write("x".repeat(100))
        const ended = yield* readToEnd(flooder)
        assert.strictEqual(yield* Deferred.await(results), "LineTooLong")
        assert.strictEqual(ended, "")
        const next = yield* rawClient(server.address.port)
        next.write("short\n")
        assert.strictEqual(yield* readBytes(next, 9), "ok short\n")
      })))
  })

  describe("units over the limit", () => {
    it.live("the handler sees LineTooLong on a writable connection, and reads on after the line", () =>
      live(Effect.gen(function*() {
        const server = yield* Tcp.serve({
          host: "127.0.0.1",
          port: 0,
          maxLineLength: 16,
          handler: Effect.fnUntraced(function*(conn: Connection.Connection) {
            yield* conn.receive().pipe(
              Effect.catchTag("LineTooLong", () => conn.send("-ERR line too long\r\n"))
            )
            yield* conn.send(`+${yield* conn.receive()}\r\n`)
          })
        })
        const client = yield* rawClient(server.address.port)
        // more than the read buffer's high-water mark, then the rest of the line after the answer
        yield* rawWrite(client, "x".repeat(100_000))
        assert.strictEqual(yield* readBytes(client, 20), "-ERR line too long\r\n")
        yield* rawWrite(client, "y".repeat(100_000) + "\nPING\n")
        assert.strictEqual(yield* readBytes(client, 7), "+PING\r\n")
        // the handler has ended: the server closes the connection
        assert.strictEqual(yield* readToEnd(client), "")
      })))

    it.live("a delimited unit over the limit is dropped up to its delimiter", () =>
      live(Effect.gen(function*() {
        const { peer, server } = yield* rawPair({ maxLineLength: 8 })
        yield* rawWrite(peer, "0123456789abcdef")
        assert.strictEqual((yield* Effect.flip(server.receive({ until: "\r\n\r\n" })))._tag, "LineTooLong")
        yield* rawWrite(peer, "abc\r\n\r\nhead\r\n\r\n")
        assert.strictEqual(yield* server.receive({ until: "\r\n\r\n" }), "head")
      })))
  })

  describe("everything until the end", () => {
    it.live("fails *a with StreamTooLong past maxAll when the peer never closes, keeping the bytes readable", () =>
      live(Effect.gen(function*() {
        const { peer, server } = yield* rawPair({ maxAll: 1000 })
        const data = Buffer.alloc(3000, "z")
        yield* rawWrite(peer, data)
        const error = yield* Effect.flip(server.receive("*a"))
        assert.strictEqual(error._tag, "StreamTooLong")
        if (error._tag !== "StreamTooLong") return
        assert.strictEqual(error.maxAll, 1000)
        assert.isAbove(error.buffered, 1000)
        assert.include(error.message, `${error.buffered} bytes buffered`)
        // nothing was lost: the bytes can still be read, and the connection still works
        assert.isTrue((yield* server.receiveBytes(3000)).equals(data))
        peer.end("tail")
        assert.strictEqual(yield* server.receive("*a"), "tail")
      })))
  })

  describe("writing", () => {
    it.live("fails, never hangs, when sending to a peer that closed", () =>
      live(Effect.gen(function*() {
        const { peer, server } = yield* rawPair()
        peer.destroy()
        const block = Buffer.alloc(65536)
        const error = yield* Effect.flip(Effect.forever(server.send(block)))
        assert.include(["ConnectionReset", "SocketClosed"], error._tag)
      })))

    it.live("fails a send blocked on a full socket when the peer resets", () =>
      live(Effect.gen(function*() {
        const { peer, server } = yield* rawPair()
        peer.pause()
        const sending = yield* Effect.forkChild(Effect.forever(server.send(Buffer.alloc(1 << 20))))
        // the peer is not reading: the kernel buffers fill and a send waits
        while (server.socket.writableLength === 0) yield* Effect.sleep(5)
        peer.resetAndDestroy()
        const error = yield* Effect.flip(Fiber.join(sending))
        assert.strictEqual(error._tag, "ConnectionReset")
      })))

    it.live("lets several fibers send on one connection, each send resolving after its own bytes", () =>
      live(Effect.gen(function*() {
        const { client, server } = yield* pair()
        const block = (tag: string) => Buffer.alloc(256 * 1024, tag)
        // four senders at once, each with more than the socket buffers hold, while the reader is not reading
        const senders = yield* Effect.forEach(["a", "b", "c", "d"], (tag) => Effect.forkChild(client.send(block(tag))))
        const received = yield* server.receiveBytes(4 * 256 * 1024)
        yield* Fiber.joinAll(senders)
        // writes are not interleaved: four runs of 256 KiB, one per sender
        const runs = [0, 1, 2, 3].map((i) => String.fromCharCode(received[i * 256 * 1024]!))
        assert.sameMembers(runs, ["a", "b", "c", "d"])
        for (let i = 0; i < 4; i++) {
          const run = received.subarray(i * 256 * 1024, (i + 1) * 256 * 1024)
          assert.isTrue(run.every((byte) => byte === run[0]))
        }
      })))

    it.live("fails with SocketClosed after close, and close is idempotent", () =>
      live(Effect.gen(function*() {
        const { client } = yield* pair()
        yield* client.close
        yield* client.close
        assert.isTrue(client.isClosed)
        assert.strictEqual((yield* Effect.flip(client.send("x")))._tag, "SocketClosed")
        assert.strictEqual((yield* Effect.flip(client.receive()))._tag, "SocketClosed")
      })))

    it.live("fails a pending read with SocketClosed when another fiber closes the connection", () =>
      live(Effect.gen(function*() {
        const { client } = yield* pair()
        const reading = yield* Effect.forkChild(client.receive())
        yield* Effect.yieldNow
        yield* client.close
        assert.strictEqual((yield* Effect.flip(Fiber.join(reading)))._tag, "SocketClosed")
      })))

    it.live("reports a reset peer as ConnectionReset to a reader", () =>
      live(Effect.gen(function*() {
        const { peer, server } = yield* rawPair()
        const reading = yield* Effect.forkChild(server.receive())
        peer.resetAndDestroy()
        assert.strictEqual((yield* Effect.flip(Fiber.join(reading)))._tag, "ConnectionReset")
      })))
  })

  describe("half-close", () => {
    it.live("the client shuts down its side and still reads the server's answer", () =>
      live(Effect.gen(function*() {
        const { client, server } = yield* pair()
        yield* client.send("question\n")
        yield* client.shutdown
        assert.strictEqual((yield* Effect.flip(client.send("more")))._tag, "SocketClosed")
        const all = yield* server.receive("*a")
        yield* server.send(`answer to ${all.trim()}\n`)
        yield* server.shutdown
        assert.strictEqual(yield* client.receive("*a"), "answer to question\n")
      })))

    it.live("the server shuts down its side and still reads the client", () =>
      live(Effect.gen(function*() {
        const { peer, server } = yield* rawPair()
        yield* server.send("bye\n")
        yield* server.shutdown
        const heard = yield* readBytes(peer, 100) // until the FIN
        peer.end("late words\n")
        assert.strictEqual(heard, "bye\n")
        assert.strictEqual(yield* server.receive(), "late words")
      })))
  })

  describe("shutdown on a peer that does not read", () => {
    /** A server connection whose peer has stopped reading, with unsent bytes queued behind a full window. */
    const stalled = (options?: Connection.Options) =>
      Effect.gen(function*() {
        const { peer, server } = yield* rawPair(options)
        peer.pause()
        const filling = yield* Effect.forkChild(Effect.forever(server.send(Buffer.alloc(1 << 20))))
        // the kernel buffers are full once a send has to wait
        while (server.socket.writableLength === 0) yield* Effect.sleep(5)
        yield* Fiber.interrupt(filling)
        return { peer, server }
      })

    it.live("fails with a write timeout and closes the socket instead of hanging", () =>
      live(Effect.gen(function*() {
        const { server } = yield* stalled()
        yield* server.setTimeouts({ write: "200 millis" })
        const started = Date.now()
        const error = yield* Effect.flip(server.shutdown.pipe(Effect.timeout("3 seconds")))
        assert.strictEqual(error._tag === "ConnectionTimeout" && error.phase, "write")
        assert.isBelow(Date.now() - started, 2000)
        assert.isTrue(server.socket.destroyed)
      })))

    it.live("succeeds on a socket Node has already ended (no allowHalfOpen)", () =>
      live(Effect.gen(function*() {
        const { peer, socket } = yield* plainPair
        const conn = yield* Connection.make(socket)
        peer.end()
        assert.strictEqual((yield* Effect.flip(conn.receive()))._tag, "ConnectionClosed")
        yield* conn.shutdown
        assert.strictEqual(yield* readToEnd(peer), "")
      })))

    it.live("listens for 'end' in the place of Node's own listener, which still runs, and gives it back on detach", () =>
      live(Effect.gen(function*() {
        const { peer, socket } = yield* plainPair
        const nodes = socket.listeners("end")
        assert.strictEqual(nodes.length, 1)
        const first = Connection.makeUnsafe(socket)
        // one listener, not an array of two
        assert.strictEqual(socket.listenerCount("end"), 1)
        assert.notStrictEqual(socket.listeners("end")[0], nodes[0])
        Connection.detachUnsafe(first)
        assert.deepStrictEqual(socket.listeners("end"), nodes)
        const conn = yield* Connection.make(socket)
        const write = socket.write
        peer.end()
        assert.strictEqual((yield* Effect.flip(conn.receive()))._tag, "ConnectionClosed")
        // Node's listener ran: a socket without allowHalfOpen refuses writes after the peer's FIN
        assert.notStrictEqual(socket.write, write)
      })))

    it.live("fails when the peer resets while it waits", () =>
      live(Effect.gen(function*() {
        const { peer, server } = yield* stalled()
        const shutting = yield* Effect.forkChild(server.shutdown)
        yield* Effect.yieldNow
        assert.isUndefined(shutting.pollUnsafe())
        peer.resetAndDestroy()
        const error = yield* Effect.flip(Fiber.join(shutting).pipe(Effect.timeout("3 seconds")))
        assert.strictEqual(error._tag, "ConnectionReset")
      })))
  })

  describe("timeouts", () => {
    it.live("a read timeout fails the read and leaves the connection usable", () =>
      live(Effect.gen(function*() {
        const { peer, server } = yield* rawPair()
        yield* server.setTimeouts({ read: "100 millis" })
        const error = yield* Effect.flip(server.receive())
        assert.strictEqual(error._tag, "ConnectionTimeout")
        assert.strictEqual(error._tag === "ConnectionTimeout" && error.phase, "read")
        yield* rawWrite(peer, "still here\n")
        assert.strictEqual(yield* server.receive(), "still here")
      })))

    it.live("a line read that timed out does not hide a delimiter from the next pattern", () =>
      live(Effect.gen(function*() {
        const { peer, server } = yield* rawPair({ read: "100 millis" })
        yield* rawWrite(peer, "a,b")
        const error = yield* Effect.flip(server.receive("*l"))
        assert.strictEqual(error._tag === "ConnectionTimeout" && error.phase, "read")
        assert.strictEqual(yield* server.receive({ until: "," }), "a")
      })))

    it.live("a write timeout fails a send the peer does not drain, and closes the connection", () =>
      live(Effect.gen(function*() {
        const { peer, server } = yield* rawPair({ write: "200 millis" })
        peer.pause()
        const error = yield* Effect.flip(Effect.forever(server.send(Buffer.alloc(1 << 20))))
        assert.strictEqual(error._tag, "ConnectionTimeout")
        assert.strictEqual(error._tag === "ConnectionTimeout" && error.phase, "write")
        assert.strictEqual((yield* Effect.flip(server.receive()))._tag, "ConnectionTimeout")
      })))

    it.live("an idle timeout closes a silent connection", () =>
      live(Effect.gen(function*() {
        const { peer, server } = yield* rawPair({ idle: "150 millis" })
        const error = yield* Effect.flip(server.receive())
        assert.strictEqual(error._tag === "ConnectionTimeout" && error.phase, "idle")
        assert.strictEqual(yield* readToEnd(peer), "")
      })))

    it.live("traffic keeps an idle timeout from firing", () =>
      live(Effect.gen(function*() {
        const { peer, server } = yield* rawPair({ idle: "300 millis" })
        for (let i = 0; i < 6; i++) {
          yield* rawWrite(peer, `${i}\n`)
          assert.strictEqual(yield* server.receive(), `${i}`)
          yield* Effect.sleep(100)
        }
      })))
  })

  describe("views", () => {
    it.live("streams received chunks until end of stream, and sinks sent ones", () =>
      live(Effect.gen(function*() {
        const { client, server } = yield* pair()
        yield* Stream.make("a", "bc", "def").pipe(Stream.run(client.sink))
        yield* client.shutdown
        const chunks = yield* Stream.runCollect(server.stream)
        assert.strictEqual(Buffer.concat(chunks.map((c) => Buffer.from(c))).toString(), "abcdef")
      })))

    it.live("reports addresses and byte counts", () =>
      live(Effect.gen(function*() {
        const { client, server } = yield* pair()
        yield* client.send("12345\n")
        yield* server.receive()
        assert.strictEqual(client.remoteAddress.port, server.localAddress.port)
        assert.strictEqual(server.remoteAddress.port, client.localAddress.port)
        assert.strictEqual(client.remoteAddress.family, "IPv4")
        assert.strictEqual(client.bytesWritten, 6)
        assert.strictEqual(server.bytesRead, 6)
      })))
  })

  it.live("buffered counts what arrived and was not read yet", () =>
    live(Effect.gen(function*() {
      const { client, server } = yield* pair()
      assert.strictEqual(server.buffered, 0)
      yield* client.send("a\nb\nc\n")
      assert.strictEqual(yield* server.receive(), "a")
      // however the bytes were chunked: everything that arrived, less the line and its terminator
      assert.strictEqual(server.buffered, server.bytesRead - 2)
      assert.strictEqual(yield* server.receive(), "b")
      assert.strictEqual(yield* server.receive(), "c")
      assert.strictEqual(server.buffered, 0)
    })))

  it.live("a connection is closed when its scope closes", () =>
    live(Effect.gen(function*() {
      const { accepted, port } = yield* serverSide()
      const socket = yield* Effect.scoped(Effect.map(Tcp.connect({ host: "127.0.0.1", port }), (c) => c.socket))
      const server = yield* accepted
      assert.isTrue(socket.destroyed || socket.writableEnded)
      assert.strictEqual((yield* Effect.flip(server.receive()))._tag, "ConnectionClosed")
    })))
})
