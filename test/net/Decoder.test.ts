import { assert, describe, it } from "@effect/vitest"
import * as Data from "effect/Data"
import * as Effect from "effect/Effect"
import * as Fiber from "effect/Fiber"
import * as Option from "effect/Option"
import * as fc from "fast-check"
import * as Decoder from "../../src/net/Decoder.ts"
import { FrameState } from "../../src/net/internal/FrameState.ts"
import { ReadBuffer } from "../../src/net/ReadBuffer.ts"
import * as Tcp from "../../src/net/Tcp.ts"
import { rawClient, rawPair, rawWrite, readBytes, TcpLive } from "./support.ts"

/** Bounds a network test and gives it the live TCP service. */
const live = <A, E>(effect: Effect.Effect<A, E, any>) =>
  effect.pipe(Effect.timeout("8 seconds"), Effect.provide(TcpLive)) as Effect.Effect<A, unknown, any>

const prefixed = (payload: string | Buffer, size: 1 | 2 | 4 = 4): Buffer => {
  const body = typeof payload === "string" ? Buffer.from(payload) : payload
  const head = Buffer.alloc(size)
  head.writeUIntBE(body.length, 0, size)
  return Buffer.concat([head, body])
}

/** Lines, resuming the search where the last call stopped (the doc's example). */
const lines = Decoder.make({
  state: () => ({ scanned: 0 }),
  decode: (input, state) => {
    const lf = input.bytes.indexOf(0x0a, input.start + state.scanned)
    if (lf < 0) {
      state.scanned = input.end - input.start
      return undefined
    }
    state.scanned = 0
    input.consume(lf + 1 - input.start)
    return input.bytes.toString("latin1", input.start, lf)
  },
  maxFrameLength: 1 << 20
})

/** Feeds `chunks` to a buffer and decodes all frames it can, in order (`null` marks a failure). */
const decodeAll = <A>(decoder: Decoder.Decoder<A, unknown>, chunks: ReadonlyArray<Buffer>) => {
  const buffer = new ReadBuffer()
  const state = new FrameState()
  state.use(decoder as Decoder.Decoder<unknown, unknown>)
  const frames: Array<A | null> = []
  for (const chunk of chunks) {
    buffer.push(chunk)
    for (;;) {
      const frame = buffer.decode(decoder, state)
      if (state.failed) {
        state.takeError()
        frames.push(null)
        return { frames, buffer }
      }
      if (frame === undefined) break
      frames.push(frame)
    }
  }
  return { frames, buffer }
}

/** Splits `bytes` at the given cut points. */
const cut = (bytes: Buffer, cuts: ReadonlyArray<number>): Array<Buffer> => {
  const points = [...new Set(cuts.map((c) => c % (bytes.length + 1)))].sort((a, b) => a - b)
  const out: Array<Buffer> = []
  let from = 0
  for (const p of [...points, bytes.length]) {
    out.push(bytes.subarray(from, p))
    from = p
  }
  return out
}

describe("ReadBuffer.decode", () => {
  it("length-prefixed frames come out whole and in order however the bytes are split", () => {
    fc.assert(
      fc.property(
        fc.array(fc.uint8Array({ maxLength: 300 }), { maxLength: 12 }),
        fc.constantFrom(1 as const, 2 as const, 4 as const),
        fc.array(fc.nat(), { maxLength: 40 }),
        (payloads, size, cuts) => {
          const stream = Buffer.concat(payloads.map((p) => prefixed(Buffer.from(p), size)))
          const { frames } = decodeAll(Decoder.lengthPrefixed({ lengthBytes: size }), cut(stream, cuts))
          assert.deepStrictEqual(frames.map((f) => Buffer.from(f!).toString("hex")), payloads.map((p) => Buffer.from(p).toString("hex")))
        }
      )
    )
  })

  it("a frame arriving a byte at a time costs work linear in its bytes (copies and decoder calls)", () => {
    const line = Buffer.from("x".repeat(64 * 1024) + "\n")
    const { frames, buffer } = decodeAll(lines, cut(line, Array.from({ length: line.length }, (_, i) => i)))
    assert.strictEqual(frames.length, 1)
    assert.strictEqual((frames[0] as string).length, 64 * 1024)
    // each byte copied a bounded number of times into room that doubles, one call per chunk
    assert.isBelow(buffer.work, 6 * line.length)
  })

  it("a decoder that asked for a count is not called again before that many bytes are buffered", () => {
    let calls = 0
    const counted = Decoder.make({
      decode: (input) => {
        calls++
        if (input.end - input.start < 1000) return input.need(1000)
        input.consume(1000)
        return "frame"
      }
    })
    const { frames } = decodeAll(counted, cut(Buffer.alloc(1000), Array.from({ length: 99 }, (_, i) => (i + 1) * 10)))
    assert.deepStrictEqual(frames, ["frame"])
    assert.strictEqual(calls, 2)
  })

  it("bytes consumed without a frame are skipped and decoding goes on; a frame that consumes nothing is a defect", () => {
    const skipBlank = Decoder.make({
      decode: (input) => {
        const lf = input.bytes.indexOf(0x0a, input.start)
        if (lf < 0) return undefined
        input.consume(lf + 1 - input.start)
        return lf === input.start ? undefined : input.bytes.toString("latin1", input.start, lf)
      }
    })
    assert.deepStrictEqual(decodeAll(skipBlank, [Buffer.from("\n\na\n\nb\n")]).frames, ["a", "b"])
    const broken = Decoder.make({ decode: () => "frame" })
    assert.throws(() => decodeAll(broken, [Buffer.from("x")]), /without consuming/)
  })

  it("a failed decode consumes nothing", () => {
    const picky = Decoder.make<string, string>({
      decode: (input) => input.bytes[input.start] === 0x21 ? input.fail("bang") : (input.consume(1), "ok")
    })
    const { frames, buffer } = decodeAll(picky, [Buffer.from("ab!cd")])
    assert.deepStrictEqual(frames, ["ok", "ok", null])
    assert.strictEqual(buffer.length, 3)
    assert.strictEqual(buffer.takeAll().toString(), "!cd")
  })
})

class BadNetstring extends Data.TaggedError("BadNetstring")<{}> {}

// the example of Decoder.make's doc and docs/tcp.md
const netstrings = Decoder.make<string, BadNetstring>({
  maxFrameLength: 64 * 1024,
  decode: (input) => {
    const { bytes, start, end } = input
    const colon = bytes.indexOf(0x3a, start)
    if (colon < 0) return end - start > 5 ? input.fail(new BadNetstring()) : undefined
    const digits = bytes.toString("latin1", start, colon)
    if (!/^(?:0|[1-9][0-9]{0,4})$/.test(digits)) return input.fail(new BadNetstring())
    const length = Number(digits)
    const total = colon + 1 + length + 1 - start
    if (end - start < total) return input.need(total) // not called again before `total` bytes are here
    if (bytes[start + total - 1] !== 0x2c) return input.fail(new BadNetstring())
    input.consume(total)
    return bytes.toString("utf8", colon + 1, colon + 1 + length)
  }
})

describe("the documented netstring decoder", () => {
  it("decodes netstrings split anywhere and fails typed on a bad one", () => {
    const stream = Buffer.from("5:hello,0:,12:hello, world,")
    for (let at = 0; at <= stream.length; at++) {
      assert.deepStrictEqual(decodeAll(netstrings, cut(stream, [at])).frames, ["hello", "", "hello, world"])
    }
    assert.deepStrictEqual(decodeAll(netstrings, [Buffer.from("3:abc;")]).frames, [null])
    assert.deepStrictEqual(decodeAll(netstrings, [Buffer.from("x:abc,")]).frames, [null])
    assert.deepStrictEqual(decodeAll(netstrings, [Buffer.from("1234567")]).frames, [null])
    assert.deepStrictEqual(decodeAll(netstrings, [Buffer.from(":,")]).frames, [null])
    assert.deepStrictEqual(decodeAll(netstrings, [Buffer.from("01:a,")]).frames, [null])
  })
})

class BadMagic extends Data.TaggedError("BadMagic")<{ readonly byte: number }> {}

describe("Connection.receiveFrame", () => {
  it.live("reads length-prefixed frames over a real socket, pieces written apart, and answers each", () =>
    live(Effect.gen(function*() {
      const records = Decoder.lengthPrefixed({ lengthBytes: 2 })
      const server = yield* Tcp.serve({
        host: "127.0.0.1",
        port: 0,
        handler: Effect.fnUntraced(function*(conn) {
          for (;;) yield* conn.send(`${(yield* conn.receiveFrame(records)).toString()};`)
        })
      })
      const peer = yield* rawClient(server.address.port)
      const stream = Buffer.concat([prefixed("one", 2), prefixed("", 2), prefixed("x".repeat(4464), 2), prefixed("end", 2)])
      for (const piece of cut(stream, [1, 3, 4, 9, 100, 3000])) yield* rawWrite(peer, piece)
      const reply = yield* readBytes(peer, 4 + 1 + 4464 + 1 + 4)
      assert.strictEqual(reply, `one;;${"x".repeat(4464)};end;`)
    })), 15_000)

  it.live("two connections decode at once, each with its own decoder state", () =>
    live(Effect.gen(function*() {
      const server = yield* Tcp.serve({
        host: "127.0.0.1",
        port: 0,
        handler: Effect.fnUntraced(function*(conn) {
          for (;;) yield* conn.send(`[${yield* conn.receiveFrame(lines)}]`)
        })
      })
      const a = yield* rawClient(server.address.port)
      const b = yield* rawClient(server.address.port)
      yield* rawWrite(a, "alpha-")
      yield* rawWrite(b, "beta-")
      yield* rawWrite(a, "one\n")
      yield* rawWrite(b, "two\n")
      assert.strictEqual(yield* readBytes(a, 11), "[alpha-one]")
      assert.strictEqual(yield* readBytes(b, 10), "[beta-two]")
    })), 15_000)

  it.live("the decoder's own error fails the read, typed, with the bytes left unread", () =>
    live(Effect.gen(function*() {
      const magic = Decoder.make<number, BadMagic>({
        decode: (input) => {
          const byte = input.bytes[input.start]!
          if (byte !== 0x7f) return input.fail(new BadMagic({ byte }))
          input.consume(1)
          return byte
        }
      })
      const { server: conn, peer } = yield* rawPair()
      yield* rawWrite(peer, Buffer.from([0x7f, 0x41, 0x42]))
      assert.strictEqual(yield* conn.receiveFrame(magic), 0x7f)
      const error = yield* Effect.flip(conn.receiveFrame(magic))
      assert.strictEqual(error._tag, "BadMagic")
      assert.strictEqual((error as BadMagic).byte, 0x41)
      assert.strictEqual((yield* conn.receiveBytes(2)).toString(), "AB")
    })), 15_000)

  it.live("a length over maxFrameLength fails with FrameTooLong at once; a frame never found, once past the limit", () =>
    live(Effect.gen(function*() {
      const { server: conn, peer } = yield* rawPair()
      yield* rawWrite(peer, Buffer.from([0, 0, 0x10, 0, 1, 2]))
      const tooLong = yield* Effect.flip(conn.receiveFrame(Decoder.lengthPrefixed({ maxFrameLength: 1024 })))
      assert.strictEqual(tooLong._tag, "FrameTooLong")
      assert.include(tooLong.message, "over the limit of 1028")
      const other = yield* rawPair()
      const short = Decoder.make({ decode: lines.decode, state: () => ({ scanned: 0 }), maxFrameLength: 100 })
      yield* rawWrite(other.peer, "y".repeat(60))
      const waiting = yield* Effect.forkChild(other.server.receiveFrame(short))
      yield* rawWrite(other.peer, "y".repeat(60))
      const error = yield* Effect.flip(Fiber.join(waiting))
      assert.strictEqual(error._tag, "FrameTooLong")
      assert.strictEqual((error as { length: number }).length, 120)
    })), 15_000)

  it.live("end of stream inside a frame fails with ConnectionClosed carrying its bytes", () =>
    live(Effect.gen(function*() {
      const { server: conn, peer } = yield* rawPair()
      yield* rawWrite(peer, prefixed("whole"))
      yield* rawWrite(peer, Buffer.from([0, 0, 0, 9, 0x68, 0x69]))
      peer.end()
      const records = Decoder.lengthPrefixed()
      assert.strictEqual((yield* conn.receiveFrame(records)).toString(), "whole")
      const error = yield* Effect.flip(conn.receiveFrame(records))
      assert.strictEqual(error._tag, "ConnectionClosed")
      assert.deepStrictEqual([...(error as { partial: Uint8Array }).partial], [0, 0, 0, 9, 0x68, 0x69])
    })), 15_000)

  it.live("a decoder that throws is a defect of that handler; the server goes on serving", () =>
    live(Effect.gen(function*() {
      const throwing = Decoder.make({
        decode: (input): string | undefined => {
          if (input.bytes[input.start] === 0x21) throw new Error("decoder bug")
          const lf = input.bytes.indexOf(0x0a, input.start)
          if (lf < 0) return undefined
          input.consume(lf + 1 - input.start)
          return input.bytes.toString("latin1", input.start, lf)
        }
      })
      const server = yield* Tcp.serve({
        host: "127.0.0.1",
        port: 0,
        handler: Effect.fnUntraced(function*(conn) {
          for (;;) yield* conn.send(`${yield* conn.receiveFrame(throwing)}\n`)
        })
      })
      const bad = yield* rawClient(server.address.port)
      yield* rawWrite(bad, "!\n")
      assert.strictEqual(yield* readBytes(bad, 1), "")
      const good = yield* rawClient(server.address.port)
      yield* rawWrite(good, "fine\n")
      assert.strictEqual(yield* readBytes(good, 5), "fine\n")
      assert.strictEqual(server.stats().failed, 1)
    })), 15_000)

  it.live("a frame read interrupted, then its bytes taken by another read: the next frame is read, not waited for", () =>
    live(Effect.gen(function*() {
      const { server: conn, peer } = yield* rawPair()
      const records = Decoder.lengthPrefixed()
      // a 10-byte frame announced, 2 bytes of it sent: the read waits for 14 bytes
      yield* rawWrite(peer, Buffer.from([0, 0, 0, 10, 0x61, 0x62]))
      assert.isTrue(Option.isNone(yield* Effect.timeoutOption(conn.receiveFrame(records), "50 millis")))
      assert.deepStrictEqual([...(yield* conn.receiveBytes(6))], [0, 0, 0, 10, 0x61, 0x62])
      yield* rawWrite(peer, prefixed("ok"))
      assert.strictEqual((yield* conn.receiveFrame(records).pipe(Effect.timeout("2 seconds"))).toString(), "ok")
    })), 15_000)

  it.live("a decoder that failed and then threw leaves nothing behind for the next read", () =>
    live(Effect.gen(function*() {
      const { server: conn, peer } = yield* rawPair()
      const broken = Decoder.make<string, string>({
        decode: (input) => {
          input.fail("half-reported")
          throw new Error("decoder bug")
        }
      })
      yield* rawWrite(peer, prefixed("next"))
      const defect = yield* conn.receiveFrame(broken).pipe(Effect.catchDefect((e) => Effect.succeed(String(e))))
      assert.include(defect, "decoder bug")
      assert.strictEqual((yield* conn.receiveFrame(Decoder.lengthPrefixed())).toString(), "next")
    })), 15_000)

  it.live("switching between a decoder and read patterns on one connection reads each unit in turn", () =>
    live(Effect.gen(function*() {
      const { server: conn, peer } = yield* rawPair()
      yield* rawWrite(peer, Buffer.concat([Buffer.from("HELLO\r\n"), prefixed("body"), Buffer.from("BYE\n")]))
      assert.strictEqual(yield* conn.receive(), "HELLO")
      assert.strictEqual((yield* conn.receiveFrame(Decoder.lengthPrefixed())).toString(), "body")
      assert.strictEqual(yield* conn.receiveFrame(lines), "BYE")
    })), 15_000)
})
