import { assert, describe, it } from "@effect/vitest"
import * as Effect from "effect/Effect"
import * as Fiber from "effect/Fiber"
import { mkdtempSync, rmSync } from "node:fs"
import type * as Net from "node:net"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { makeRawServer } from "../../bench/resp-raw-server.ts"
import * as Resp from "../../examples/resp-server.ts"
import { freePort, rawClient, rawWrite, spawnProcess, TcpLive } from "../net/support.ts"
import { requireTool } from "./support.ts"

const live = <A, E>(effect: Effect.Effect<A, E, any>) =>
  effect.pipe(Effect.timeout("50 seconds"), Effect.provide(TcpLive)) as Effect.Effect<A, unknown, any>

/** A throwaway redis-server on a free port, in a temporary directory, killed by PID with the scope. */
const redisServer = Effect.gen(function*() {
  requireTool("redis-server")
  const dir = yield* Effect.acquireRelease(
    Effect.sync(() => mkdtempSync(join(tmpdir(), "fiberloop-redis-"))),
    (dir) => Effect.sync(() => rmSync(dir, { recursive: true, force: true }))
  )
  const port = yield* freePort
  const redis = yield* spawnProcess("redis-server", [
    "--port", String(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no", "--dir", dir
  ])
  // it logs to stdout; at most 100 lines before it is ready
  for (let i = 0; i < 100 && !/Ready to accept connections/.test(yield* redis.line); i++);
  return port
})

/** The raw `node:net` baseline on a free port, closed with the scope. */
const rawServer = Effect.acquireRelease(
  Effect.callback<Net.Server>((resume) => {
    const server = makeRawServer()
    server.listen(0, "127.0.0.1", () => resume(Effect.succeed(server)))
  }),
  (server) => Effect.sync(() => server.close())
).pipe(Effect.map((server) => (server.address() as Net.AddressInfo).port))

const b = (s: string) => Buffer.from(s, "latin1")
/** A command as redis clients send it: a multibulk of bulks. */
const cmd = (...args: Array<string | Buffer>): Buffer =>
  Buffer.concat([
    b(`*${args.length}\r\n`),
    ...args.flatMap((a) => [b(`$${Buffer.byteLength(a, "latin1")}\r\n`), typeof a === "string" ? b(a) : a, b("\r\n")])
  ])
/** Ends a conversation: everything before it has been answered once its reply is here. */
const sentinel = cmd("ECHO", "end-of-script")
const sentinelReply = b("$13\r\nend-of-script\r\n")

/** Splits `bytes` into pieces of `size` bytes, written one by one. */
const pieces = (bytes: Buffer, size: number): Array<Buffer> =>
  Array.from({ length: Math.ceil(bytes.length / size) }, (_, i) => bytes.subarray(i * size, (i + 1) * size))

interface Script {
  readonly name: string
  readonly writes: ReadonlyArray<Buffer>
  /** The server closes the connection after a protocol error (no sentinel then). */
  readonly closes?: boolean
}

/**
 * Writes each piece (waiting for it to be flushed), then collects everything
 * the server sends until the sentinel's reply, or until it closes.
 */
const converse = (port: number, script: Script) =>
  Effect.scoped(Effect.gen(function*() {
    const socket = yield* rawClient(port)
    const received: Array<Buffer> = []
    let tail: Buffer = Buffer.alloc(0)
    const done = Effect.callback<Buffer>((resume) => {
      const finish = () => resume(Effect.succeed(Buffer.concat(received)))
      socket.on("data", (chunk: Buffer) => {
        received.push(chunk)
        tail = Buffer.concat([tail, chunk]).subarray(-sentinelReply.length)
        if (script.closes !== true && tail.equals(sentinelReply)) finish()
      })
      socket.on("error", () => {})
      socket.once("end", finish)
      socket.once("close", finish)
    })
    const reply = yield* Effect.forkChild(done)
    for (const piece of [...script.writes, ...(script.closes === true ? [] : [sentinel])]) {
      yield* rawWrite(socket, piece).pipe(Effect.ignore)
    }
    return yield* Fiber.join(reply)
  }))

const all = Buffer.from(Array.from({ length: 256 }, (_, i) => i))
const big = Buffer.alloc(100 * 1024, "0123456789\r\nabcdef")
const longArg = "x".repeat(200)

const scripts: ReadonlyArray<Script> = [
  {
    name: "every command, one per write",
    writes: [
      cmd("PING"),
      cmd("PING", "hello"),
      cmd("ping", "a", "b"),
      cmd("ECHO", "line one\r\nline two"),
      cmd("ECHO"),
      cmd("SET", "k", "v"),
      cmd("GET", "k"),
      cmd("GET", "missing"),
      cmd("SET", "empty", ""),
      cmd("GET", "empty"),
      cmd("SET", "binary", all),
      cmd("GET", "binary"),
      cmd("SET", all, "binary key"),
      cmd("GET", all),
      cmd("SET", "k"),
      cmd("SET", "k", "v", "BOGUS"),
      cmd("GET"),
      cmd("GET", "a", "b"),
      cmd("INCR", "counter"),
      cmd("INCR", "counter"),
      cmd("incr", "counter"),
      cmd("SET", "n", "41"),
      cmd("INCR", "n"),
      cmd("GET", "n"),
      cmd("SET", "n", "-1"),
      cmd("INCR", "n"),
      cmd("INCR", "n"),
      cmd("SET", "n", "9007199254740991"),
      cmd("INCR", "n"),
      cmd("INCR", "n"),
      cmd("SET", "n", "9223372036854775806"),
      cmd("INCR", "n"),
      cmd("INCR", "n"),
      cmd("GET", "n"),
      cmd("SET", "n", "9223372036854775808"),
      cmd("INCR", "n"),
      cmd("SET", "n", "-9223372036854775808"),
      cmd("INCR", "n"),
      ...["abc", "", " 1", "1 ", "01", "-0", "+1", "1.5", "99999999999999999999", "-"].flatMap((v) => [
        cmd("SET", "bad", v),
        cmd("INCR", "bad")
      ]),
      cmd("INCR"),
      cmd("LPUSH", "list", "a"),
      cmd("LPUSH", "list", "b", "c", ""),
      cmd("LPUSH", "list"),
      cmd("LPUSH", "k", "x"),
      cmd("GET", "list"),
      cmd("INCR", "list"),
      cmd("SET", "list", "now a string"),
      cmd("GET", "list"),
      cmd("CONFIG", "GET", "save"),
      cmd("CONFIG", "GET", "appendonly"),
      cmd("config", "get", "SAVE"),
      cmd("CONFIG", "GET", "no-such-parameter"),
      cmd("CONFIG"),
      cmd("CONFIG", "GET"),
      cmd("CONFIG", "foo", "bar"),
      cmd("foo"),
      cmd("foo", "a", "b"),
      cmd("FOO", "with\r\nnewlines", b("bytes \xff\xfe\x80")),
      cmd("foo", longArg, "y"),
      cmd("foo", "x".repeat(100), "y".repeat(100), "z"),
      cmd(b("nul\x00name"), b("a\x00b")),
      cmd(""),
      b("*0\r\n*-1\r\n"),
      cmd("PING")
    ]
  },
  {
    name: "inline commands",
    writes: [
      b("PING\r\n"),
      b("ping hello\n"),
      b("ECHO   spaced\t \r\n"),
      b("\r\n"),
      b("   \r\n"),
      b("SET ik iv\r\nGET ik\r\n"),
      b("INCR ic\nINCR ic\r\n"),
      b("LPUSH il a b\r\n"),
      b("foo bar baz\r\n"),
      b("GET\r\n")
    ]
  },
  ...((): Array<Script> => {
    const batch = Buffer.concat(Array.from({ length: 300 }, (_, i) => [
      cmd("SET", `key:${i}`, `value ${i}\r\n`),
      cmd("GET", `key:${i}`),
      cmd("INCR", "pipelined"),
      cmd("LPUSH", "pipelist", `${i}`),
      ...(i % 50 === 0 ? [b(`PING\r\nECHO inline${i}\r\n`), cmd("nope", `${i}`)] : [])
    ]).flat())
    return [
      { name: "a pipelined batch in one write", writes: [batch] },
      { name: "the same batch in 7-byte writes", writes: pieces(batch, 7) }
    ]
  })(),
  {
    name: "100 KiB values, whole and in pieces",
    writes: [
      cmd("SET", "big", big),
      cmd("GET", "big"),
      ...pieces(Buffer.concat([cmd("ECHO", big), cmd("SET", "big2", big), cmd("GET", "big2")]), 10_000)
    ]
  },
  { name: "bad multibulk count", writes: [b("PING\r\n*abc\r\n")], closes: true },
  { name: "multibulk count over the limit", writes: [b("*3000000000\r\n")], closes: true },
  { name: "no $ where a bulk was due", writes: [Buffer.concat([cmd("PING"), b("*1\r\nfoo\r\n")])], closes: true },
  { name: "an empty line where a bulk was due", writes: [b("*1\r\n\r\n")], closes: true },
  { name: "negative bulk length", writes: [b("*1\r\n$-5\r\n")], closes: true },
  { name: "bulk length over the limit", writes: [b("*2\r\n$3\r\nGET\r\n$600000000\r\n")], closes: true },
  { name: "inline request over 64 KiB", writes: [b("PING\r\n" + "a".repeat(70_000))], closes: true },
  { name: "bulk count string over 64 KiB", writes: [b("*1\r\n$" + "1".repeat(70_000))], closes: true }
]

describe("outside peers: RESP (examples/resp-server.ts)", () => {
  it.live("the example (decoder and read patterns) and the raw node baseline answer every script byte for byte as redis-server does", () =>
    live(Effect.gen(function*() {
      const redis = yield* redisServer
      const server = yield* Resp.serve({ host: "127.0.0.1", port: 0 })
      const patterns = yield* Resp.serve({ host: "127.0.0.1", port: 0, framing: "patterns" })
      const raw = yield* rawServer
      for (const script of scripts) {
        const expected = yield* converse(redis, script)
        assert.isAbove(expected.length, 0, script.name)
        const fiberloop = yield* converse(server.address.port, script)
        assert.strictEqual(fiberloop.toString("latin1"), expected.toString("latin1"), `fiberloop: ${script.name}`)
        const byPatterns = yield* converse(patterns.address.port, script)
        assert.strictEqual(byPatterns.toString("latin1"), expected.toString("latin1"), `patterns: ${script.name}`)
        const baseline = yield* converse(raw, script)
        assert.strictEqual(baseline.toString("latin1"), expected.toString("latin1"), `raw: ${script.name}`)
      }
      // a few replies spelled out, so that the comparison is not between two wrong answers
      const spot = { name: "spot checks", writes: [b("INCR spot\r\nLPUSH spot x\r\nfoo 1\r\n")] }
      const first = (yield* converse(redis, spot)).toString("latin1")
      assert.strictEqual(
        first,
        ":1\r\n-WRONGTYPE Operation against a key holding the wrong kind of value\r\n" +
          "-ERR unknown command 'foo', with args beginning with: '1' \r\n" + sentinelReply.toString("latin1")
      )
      assert.strictEqual(server.stats().failed, 0)
      assert.strictEqual(patterns.stats().failed, 0)
    })), 60_000)

  it.live("redis-cli and redis-benchmark run against the example (and the raw baseline)", () =>
    live(Effect.gen(function*() {
      requireTool("redis-cli")
      requireTool("redis-benchmark")
      const server = yield* Resp.serve({ host: "127.0.0.1", port: 0 })
      const port = String(server.address.port)
      const cli = Effect.fnUntraced(function*(...args: Array<string>) {
        const p = yield* spawnProcess("redis-cli", ["-h", "127.0.0.1", "-p", port, ...args])
        const line = yield* p.line
        assert.strictEqual(yield* p.exited, 0)
        return line
      })
      assert.strictEqual(yield* cli("PING"), "PONG")
      assert.strictEqual(yield* cli("SET", "greeting", "hello world"), "OK")
      assert.strictEqual(yield* cli("GET", "greeting"), "hello world")
      assert.strictEqual(yield* cli("INCR", "visits"), "1")
      assert.strictEqual(
        yield* cli("LPUSH", "greeting", "x"),
        "WRONGTYPE Operation against a key holding the wrong kind of value"
      )

      const tests = ["PING_INLINE", "PING_MBULK", "SET", "GET", "INCR", "LPUSH"]
      for (const target of [port, String(yield* rawServer)]) {
        const bench = yield* spawnProcess("redis-benchmark", [
          "-h", "127.0.0.1", "-p", target, "-n", "2000", "-q", "--csv", "-t", "ping,set,get,incr,lpush"
        ])
        assert.match(yield* bench.line, /^"test","rps"/)
        for (const test of tests) {
          const [name, rps] = (yield* bench.line).split(",").map((f) => f.replaceAll("\"", ""))
          assert.strictEqual(name, test)
          assert.isAbove(Number(rps), 0, `${test} on port ${target}`)
        }
        assert.strictEqual(yield* bench.exited, 0)
        assert.notInclude(bench.stderr(), "CONFIG", "redis-benchmark could not read the CONFIG it asks for")
      }
      assert.strictEqual(server.stats().failed, 0)
    })), 60_000)
})
