import { assert, describe, it } from "@effect/vitest"
import * as fc from "fast-check"
import { ReadBuffer, type Take, tooLong } from "../../src/net/ReadBuffer.ts"

type Step = "*l" | number | { readonly until: string } | "partial"

/**
 * Runs the steps over `chunks`, recording each outcome; `null` means "needs
 * more bytes". With `encoding`, the units are taken decoded (the text takes).
 */
const run = (
  chunks: ReadonlyArray<Buffer>,
  steps: ReadonlyArray<Step>,
  maxLength = 1 << 20,
  encoding?: BufferEncoding
) => {
  const buffer = new ReadBuffer()
  const out: Array<string | null> = []
  let next = 0
  for (const step of steps) {
    for (;;) {
      const unit = encoding === undefined
        ? step === "*l"
          ? buffer.takeLine(maxLength)
          : step === "partial"
          ? buffer.takeUpTo(3)
          : typeof step === "number"
          ? buffer.takeExactly(step)
          : buffer.takeUntil(Buffer.from(step.until), maxLength)
        : step === "*l"
        ? buffer.takeLine(maxLength, encoding)
        : step === "partial"
        ? buffer.takeUpTo(3, encoding)
        : typeof step === "number"
        ? buffer.takeExactly(step, encoding)
        : buffer.takeUntil(Buffer.from(step.until), maxLength, encoding)
      if (unit === tooLong) {
        out.push("TOO LONG")
        break
      }
      if (unit !== undefined) {
        out.push(typeof unit === "string" ? unit : unit.toString("latin1"))
        break
      }
      if (next === chunks.length) {
        out.push(null)
        break
      }
      buffer.push(chunks[next++]!)
    }
  }
  while (next < chunks.length) buffer.push(chunks[next++]!)
  out.push(buffer.takeAll().toString("latin1"))
  return out
}

/** Splits `data` at the given cut points. */
const split = (data: Buffer, cuts: ReadonlyArray<number>): Array<Buffer> => {
  const points = [...new Set(cuts.map((c) => c % (data.length + 1)))].sort((a, b) => a - b)
  const out: Array<Buffer> = []
  let from = 0
  for (const p of points) {
    out.push(data.subarray(from, p))
    from = p
  }
  out.push(data.subarray(from))
  return out
}

describe("ReadBuffer", () => {
  it("reads lines, stripping \\n and \\r\\n, keeping empty lines", () => {
    assert.deepStrictEqual(run([Buffer.from("a\r\nb\n\nc")], ["*l", "*l", "*l", "*l"]), ["a", "b", "", null, "c"])
  })

  it("keeps a lone \\r inside a line", () => {
    assert.deepStrictEqual(run([Buffer.from("a\rb\r\n")], ["*l"]), ["a\rb", ""])
  })

  it("reads byte counts across chunks", () => {
    assert.deepStrictEqual(run([Buffer.from("ab"), Buffer.from("cd"), Buffer.from("e")], [3, 2, 1]), [
      "abc",
      "de",
      null,
      ""
    ])
  })

  it("reads up to a multi-byte delimiter that spans chunks", () => {
    const chunks = [Buffer.from("head\r"), Buffer.from("\n\r"), Buffer.from("\nbody")]
    assert.deepStrictEqual(run(chunks, [{ until: "\r\n\r\n" }]), ["head", "body"])
  })

  it("fails a line longer than the limit, but not one exactly at it", () => {
    assert.deepStrictEqual(run([Buffer.from("abcd\r\n")], ["*l"], 4), ["abcd", ""])
    // one byte of slack: a fifth byte could be the \r of a 4-byte line's \r\n
    assert.deepStrictEqual(run([Buffer.from("abcde")], ["*l"], 4), [null, "abcde"])
    // the unit over the limit is dropped, so nothing of it is left at the end
    assert.deepStrictEqual(run([Buffer.from("abcdef")], ["*l"], 4), ["TOO LONG", ""])
    assert.deepStrictEqual(run([Buffer.from("abcde\n")], ["*l"], 4), ["TOO LONG", ""])
    assert.deepStrictEqual(run([Buffer.from("abcdef")], [{ until: "--" }], 4), ["TOO LONG", ""])
  })

  it("decodes a unit as text in place or across chunks, and a line without its \\r\\n", () => {
    const buffer = new ReadBuffer()
    buffer.push(Buffer.from("caf\u00e9\r\n", "latin1"))
    buffer.push(Buffer.from([0xc3]))
    buffer.push(Buffer.from([0xa9, 0x0a, 0x41]))
    assert.strictEqual(buffer.takeLine(100, "latin1"), "caf\u00e9")
    // a UTF-8 character split over two chunks
    assert.strictEqual(buffer.takeLine(100, "utf8"), "\u00e9")
    assert.strictEqual(buffer.takeExactly(1, "hex"), "41")
    assert.strictEqual(buffer.takeUpTo(5, "utf8"), undefined)
    assert.strictEqual(buffer.length, 0)
  })

  it("returns a view, not a copy, for a unit inside one chunk", () => {
    const chunk = Buffer.from("hello\nworld\n")
    const buffer = new ReadBuffer()
    buffer.push(chunk)
    const line = buffer.takeLine(100) as Buffer
    assert.strictEqual(line.buffer, chunk.buffer)
  })

  it("gives identical results however the same bytes are split", () => {
    const alphabet = fc.constantFrom("a", "b", "\n", "\r", "-", "=")
    const step: fc.Arbitrary<Step> = fc.oneof(
      fc.constant("*l" as const),
      fc.integer({ min: 1, max: 6 }),
      fc.constantFrom({ until: "-" }, { until: "==" }, { until: "\r\n\r\n" }),
      fc.constant("partial" as const)
    )
    fc.assert(
      fc.property(
        fc.array(alphabet, { maxLength: 80 }).map((cs) => Buffer.from(cs.join(""))),
        fc.array(fc.nat(), { maxLength: 20 }),
        fc.array(step, { minLength: 1, maxLength: 12 }),
        (data, cuts, steps) => {
          // "partial" legitimately depends on chunk boundaries: compare it by the bytes it consumes in total
          const counted = steps.map((s) => (s === "partial" ? 1 : s))
          assert.deepStrictEqual(run(split(data, cuts), counted), run([data], counted))
          // and with units over a small limit dropped
          assert.deepStrictEqual(run(split(data, cuts), counted, 3), run([data], counted, 3))
          // taken as text: the same units, decoded straight from the chunks
          assert.deepStrictEqual(run(split(data, cuts), counted, 1 << 20, "latin1"), run([data], counted))
          assert.deepStrictEqual(run(split(data, cuts), counted, 3, "latin1"), run([data], counted, 3))
        }
      ),
      { numRuns: 2000 }
    )
  })

  it("never returns more than asked by a partial read, and loses no byte", () => {
    fc.assert(
      fc.property(fc.array(fc.uint8Array({ minLength: 1, maxLength: 10 }), { maxLength: 10 }), (chunks) => {
        const buffer = new ReadBuffer()
        for (const c of chunks) buffer.push(Buffer.from(c))
        const got: Array<number> = []
        while (buffer.length > 0) {
          const part = buffer.takeUpTo(3)
          assert.isDefined(part)
          assert.isAtMost(part.length, 3)
          assert.isAbove(part.length, 0)
          got.push(...part)
        }
        assert.deepStrictEqual(got, chunks.flatMap((c) => [...c]))
      })
    )
  })

  it("forgets a search when the pattern changes", () => {
    const buffer = new ReadBuffer()
    buffer.push(Buffer.from("a,b"))
    assert.isUndefined(buffer.takeLine(100))
    assert.strictEqual((buffer.takeUntil(Buffer.from(","), 100) as Buffer).toString(), "a")
    buffer.push(Buffer.from("\r\nc"))
    assert.isUndefined(buffer.takeUntil(Buffer.from("--"), 100))
    assert.strictEqual((buffer.takeUntil(Buffer.from("\r\n"), 100) as Buffer).toString(), "b")
  })

  describe("work grows linearly with the bytes received, whatever the chunking", () => {
    type Read = (buffer: ReadBuffer, size: number) => Take
    /**
     * Delivers one `size`-byte unit (ending with `terminator`) a byte per chunk,
     * trying the read after every chunk as a connection does on each arrival;
     * returns the work the buffer counted.
     */
    const dripWork = (size: number, terminator: string, read: Read) => {
      const buffer = new ReadBuffer()
      const bytes = Buffer.from("x".repeat(size - terminator.length) + terminator)
      for (let i = 0; i < bytes.length - 1; i++) {
        buffer.push(bytes.subarray(i, i + 1))
        assert.isUndefined(read(buffer, size))
      }
      buffer.push(bytes.subarray(bytes.length - 1))
      assert.strictEqual((read(buffer, size) as Buffer).length, size - terminator.length)
      return buffer.work
    }
    /** Work for a 16 KiB unit over work for a 4 KiB one: 4 when linear, 16 when quadratic. */
    const ratio = (terminator: string, read: Read) => dripWork(16384, terminator, read) / dripWork(4096, terminator, read)

    it("for a line", () => {
      assert.isBelow(ratio("\n", (b) => b.takeLine(1 << 20)), 5)
    })

    it("for a single-byte delimiter", () => {
      const comma = Buffer.from(",")
      assert.isBelow(ratio(",", (b) => b.takeUntil(comma, 1 << 20)), 5)
    })

    it("for a multi-byte delimiter", () => {
      const blank = Buffer.from("\r\n\r\n")
      assert.isBelow(ratio("\r\n\r\n", (b) => b.takeUntil(blank, 1 << 20)), 5)
    })

    it("for a byte count and for everything", () => {
      assert.isBelow(ratio("", (b, size) => b.takeExactly(size)), 5)
      assert.isBelow(ratio("", (b, size) => (b.length === size ? b.takeAll() : undefined)), 5)
    })
  })

  it("returns every buffered chunk from a partial read, up to max", () => {
    const buffer = new ReadBuffer()
    buffer.push(Buffer.from("abc"))
    buffer.push(Buffer.from("def"))
    buffer.push(Buffer.from("gh"))
    assert.strictEqual(buffer.takeUpTo(7)?.toString(), "abcdefg")
    assert.strictEqual(buffer.takeUpTo(7)?.toString(), "h")
    // within one chunk it stays a view (an unpooled chunk, so a pooled copy cannot share its memory)
    const chunk = Buffer.alloc(5, "hello")
    buffer.push(chunk)
    assert.strictEqual(buffer.takeUpTo(3)?.buffer, chunk.buffer)
  })

  describe("a unit over the limit", () => {
    it("is dropped up to its line end as it arrives, and reading goes on after it", () => {
      const buffer = new ReadBuffer()
      buffer.push(Buffer.from("x".repeat(10)))
      assert.strictEqual(buffer.takeLine(4), tooLong)
      // a megabyte more of it: dropped on arrival, never buffered
      for (let i = 0; i < 1024; i++) {
        buffer.push(Buffer.alloc(1024, "y"))
        assert.isAtMost(buffer.length, 0)
        assert.isUndefined(buffer.takeLine(4))
      }
      buffer.push(Buffer.from("zz\r\nPING\r\nrest"))
      assert.strictEqual((buffer.takeLine(4) as Buffer).toString(), "PING")
      assert.strictEqual(buffer.takeAll().toString(), "rest")
    })

    it("is dropped up to a multi-byte delimiter split across arrivals", () => {
      const buffer = new ReadBuffer()
      const blank = Buffer.from("\r\n\r\n")
      buffer.push(Buffer.from("x".repeat(10)))
      assert.strictEqual(buffer.takeUntil(blank, 4), tooLong)
      // the delimiter that ends it comes in three pieces
      for (const piece of ["abc\r", "\n\r", "\nok\r\n\r\n"]) {
        assert.isAtMost(buffer.length, blank.length - 1)
        buffer.push(Buffer.from(piece))
      }
      assert.strictEqual((buffer.takeUntil(blank, 4) as Buffer).toString(), "ok")
    })

    it("found whole is consumed, and the next unit follows", () => {
      const buffer = new ReadBuffer()
      buffer.push(Buffer.from("abcdef\nok\nabcdef--ok--"))
      assert.strictEqual(buffer.takeLine(4), tooLong)
      assert.strictEqual((buffer.takeLine(4) as Buffer).toString(), "ok")
      assert.strictEqual(buffer.takeUntil(Buffer.from("--"), 4), tooLong)
      assert.strictEqual((buffer.takeUntil(Buffer.from("--"), 4) as Buffer).toString(), "ok")
    })

    it("leaves nothing of itself at the end of stream", () => {
      const buffer = new ReadBuffer()
      buffer.push(Buffer.from("x".repeat(10)))
      assert.strictEqual(buffer.takeLine(4), tooLong)
      buffer.push(Buffer.from("more"))
      assert.strictEqual(buffer.takeAll().length, 0)
    })
  })
})
