import { assert, describe, it } from "@effect/vitest"
import * as fc from "fast-check"
import * as Resp from "../../examples/resp-server.ts"
import type * as Decoder from "../../src/net/Decoder.ts"
import { FrameState } from "../../src/net/internal/FrameState.ts"
import { ReadBuffer } from "../../src/net/ReadBuffer.ts"

/** Every command in `chunks` as the decoder returns it; a protocol error as its reply text. */
const decodeAll = (chunks: ReadonlyArray<Buffer>) => {
  const buffer = new ReadBuffer()
  const state = new FrameState()
  const decoder = Resp.commands as Decoder.Decoder<unknown, unknown>
  state.use(decoder)
  let calls = 0
  const out: Array<ReadonlyArray<string> | string> = []
  for (const chunk of chunks) {
    buffer.push(chunk)
    for (;;) {
      calls++
      const args = buffer.decode(decoder, state) as Array<string> | undefined
      if (state.failed) {
        out.push((state.takeError() as Resp.ProtocolViolation).reply)
        return { out, buffer, calls }
      }
      if (args === undefined) break
      out.push(args)
    }
  }
  return { out, buffer, calls }
}

const encode = (args: ReadonlyArray<string>): string =>
  `*${args.length}\r\n${args.map((a) => `$${a.length}\r\n${a}\r\n`).join("")}`

const split = (bytes: Buffer, size: number): Array<Buffer> =>
  Array.from({ length: Math.ceil(bytes.length / size) }, (_, i) => bytes.subarray(i * size, (i + 1) * size))

describe("examples/resp-server: the commands decoder", () => {
  it("decodes multibulk commands (any bytes, CRLF inside) split anywhere, in order", () => {
    fc.assert(
      fc.property(
        fc.array(fc.array(fc.string({ unit: fc.integer({ min: 0, max: 255 }).map((c) => String.fromCharCode(c)) }), {
          minLength: 1,
          maxLength: 5
        }), { minLength: 1, maxLength: 8 }),
        fc.integer({ min: 1, max: 64 }),
        (commands, size) => {
          const bytes = Buffer.from(commands.map(encode).join(""), "latin1")
          assert.deepStrictEqual(decodeAll(split(bytes, size)).out, commands)
        }
      )
    )
  })

  it("inline commands and empty ones are read as redis reads them", () => {
    const bytes = Buffer.from("PING\r\n\r\n*0\r\nSET  k\tv\n*-1\r\n   \r\nGET k\r\n", "latin1")
    assert.deepStrictEqual(decodeAll([bytes]).out, [["PING"], ["SET", "k", "v"], ["GET", "k"]])
  })

  it("protocol errors fail with redis's reply text", () => {
    const error = (text: string) => decodeAll([Buffer.from(text, "latin1")]).out.at(-1)
    assert.strictEqual(error("*abc\r\n"), Resp.ProtocolError.invalidMultibulkLength)
    assert.strictEqual(error("*1\r\nfoo\r\n"), Resp.ProtocolError.expectedDollar(Buffer.from("foo")))
    assert.strictEqual(error("*1\r\n$-5\r\n"), Resp.ProtocolError.invalidBulkLength)
    assert.strictEqual(error("PING\r\n" + "a".repeat(70_000)), Resp.ProtocolError.tooBigInline)
    assert.strictEqual(error("*1\r\n$" + "1".repeat(70_000)), Resp.ProtocolError.tooBigBulkCount)
  })

  it("a command dripped a byte at a time costs work linear in its bytes", () => {
    const args = ["LPUSH", "list", ...Array.from({ length: 2000 }, (_, i) => `item ${i}`), "v".repeat(50_000)]
    const bytes = Buffer.from(encode(args), "latin1")
    const { out, buffer, calls } = decodeAll(split(bytes, 1))
    assert.deepStrictEqual(out, [args])
    assert.isBelow(calls, 2 * bytes.length + 2)
    assert.isBelow(buffer.work, 6 * bytes.length)
  })

  it("a command of many bulks whose chunks end inside bulks is copied a bounded number of times", () => {
    // each bulk is asked for with need(); every chunk ends inside one, so each is merged with what came before
    const args = ["LPUSH", "list", ...Array.from({ length: 256 }, (_, i) => String(i % 10).repeat(4096))]
    const bytes = Buffer.from(encode(args), "latin1")
    const { out, buffer } = decodeAll(split(bytes, 4099))
    assert.deepStrictEqual(out, [args])
    assert.isBelow(buffer.work, 6 * bytes.length)
  })

  it("a 60,000-byte inline command dripped a byte at a time is searched for its end once, not once per byte", () => {
    const bytes = Buffer.from(`ECHO ${"x".repeat(60_000)}\r\n`, "latin1")
    // counts the bytes every Buffer.indexOf looks at while the command is decoded
    let searched = 0
    const original = Buffer.prototype.indexOf
    Buffer.prototype.indexOf = function(this: Buffer, value: any, from?: any, encoding?: any) {
      const at = original.call(this, value, from, encoding)
      searched += (at >= 0 ? at + 1 : this.length) - (from ?? 0)
      return at
    } as typeof original
    try {
      assert.deepStrictEqual(decodeAll(split(bytes, 1)).out, [["ECHO", "x".repeat(60_000)]])
    } finally {
      Buffer.prototype.indexOf = original
    }
    assert.isBelow(searched, 2 * bytes.length)
  })
})
