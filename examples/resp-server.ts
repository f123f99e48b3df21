/**
 * A Redis-protocol (RESP2) server: PING, ECHO, SET, GET, INCR, LPUSH and the
 * `CONFIG GET save|appendonly` that redis-benchmark asks first, answering
 * byte for byte as redis-server 7 does (its error texts included), over
 * multibulk and inline (telnet-typed) commands, pipelined or not.
 *
 *   npx node examples/resp-server.ts [port]   (default 6380; 0 picks a free port)
 *   then: redis-cli -p <port> PING, or redis-benchmark -p <port> -q -t ping,set,get,incr,lpush
 *
 * The handler reads the protocol the plain way, one read pattern per `*N`
 * line, `$len` line and bulk, and sends each reply on its own: fiberloop
 * serves reads from buffered input and coalesces the sends of a pipelined
 * batch itself. Work per peer is bounded: a line over 64 KiB, a bulk over
 * 512 MiB or more than 1,048,576 arguments is a protocol error that closes
 * the connection, like redis. Keys are binary safe (latin1 strings), values
 * are copied out of the receive buffer. Not redis: SET takes no options
 * (they get redis's "syntax error"), inline commands split on spaces without
 * quotes, CONFIG GET knows `save` and `appendonly` only.
 */
import * as Effect from "effect/Effect"
import { Loop, Tcp } from "../src/index.ts"

// =============================================================================
// Replies
// =============================================================================

/** A reply: text for fixed ASCII replies, bytes for anything carrying user bytes. */
export type Reply = string | Buffer

const OK = "+OK\r\n"
const PONG = "+PONG\r\n"
const NIL = "$-1\r\n"
const WRONGTYPE = "-WRONGTYPE Operation against a key holding the wrong kind of value\r\n"
const NOT_INTEGER = "-ERR value is not an integer or out of range\r\n"
const OVERFLOW = "-ERR increment or decrement would overflow\r\n"
const SYNTAX = "-ERR syntax error\r\n"
const arityError = (name: string): string => `-ERR wrong number of arguments for '${name}' command\r\n`

/**
 * The protocol errors that end a connection, as redis words them.
 *
 * **Example** (Answering a bad bulk length)
 *
 * ```ts
 * socket.end(ProtocolError.invalidBulkLength) // "-ERR Protocol error: invalid bulk length\r\n"
 * ```
 */
export const ProtocolError = {
  invalidMultibulkLength: "-ERR Protocol error: invalid multibulk length\r\n",
  invalidBulkLength: "-ERR Protocol error: invalid bulk length\r\n",
  tooBigInline: "-ERR Protocol error: too big inline request\r\n",
  tooBigBulkCount: "-ERR Protocol error: too big bulk count string\r\n",
  /** Where a `$len` line was expected; `line` is what came instead. */
  expectedDollar: (line: Uint8Array): Buffer => {
    const got = line.length === 0 || line[0] === CR || line[0] === LF ? SPACE : line[0]!
    return Buffer.from([...Buffer.from("-ERR Protocol error: expected '$', got '"), got, QUOTE, CR, LF])
  }
} as const

const CR = 0x0d
const LF = 0x0a
const SPACE = 0x20
const QUOTE = 0x27
const ZERO = 0x30
const MINUS = 0x2d
const STAR = 0x2a
const DOLLAR = 0x24

/**
 * A bulk string reply, `$<length>\r\n<bytes>\r\n`, in one buffer.
 *
 * **Example** (Replying to GET)
 *
 * ```ts
 * bulk(Buffer.from("bar")).toString() // => "$3\r\nbar\r\n"
 * ```
 */
export const bulk = (value: Uint8Array): Buffer => {
  const header = `$${value.length}\r\n`
  const out = Buffer.allocUnsafe(header.length + value.length + 2)
  out.write(header, 0, "latin1")
  out.set(value, header.length)
  out[out.length - 2] = CR
  out[out.length - 1] = LF
  return out
}

/** Bytes up to the first NUL and at most `max` of them, as C's `%.*s` prints them. */
const cString = (bytes: Uint8Array, max: number): Uint8Array => {
  const nul = bytes.indexOf(0)
  return bytes.subarray(0, Math.min(nul < 0 ? bytes.length : nul, Math.max(max, 0)))
}

/** redis's text for an unknown command: the name and the arguments' first 128 bytes, CR and LF made spaces. */
const unknownCommand = (args: ReadonlyArray<Uint8Array>): Buffer => {
  const parts: Array<Uint8Array> = [
    Buffer.from("-ERR unknown command '"),
    cString(args[0]!, 128),
    Buffer.from("', with args beginning with: ")
  ]
  let length = 0
  for (let i = 1; i < args.length && length < 128; i++) {
    const arg = cString(args[i]!, 128 - length)
    parts.push(Buffer.from([QUOTE]), arg, Buffer.from([QUOTE, SPACE]))
    length += arg.length + 3
  }
  const out = Buffer.concat([...parts, Buffer.from([CR, LF])])
  for (let i = 0; i < out.length - 2; i++) if (out[i] === CR || out[i] === LF) out[i] = SPACE
  return out
}

// =============================================================================
// Parsing
// =============================================================================

/**
 * The integer in `bytes` from `from` to the end, by redis's strict rules
 * (`string2ll`: optional `-`, no leading zeros, no `+` or spaces, at most 20
 * characters), or `NaN`. Exact up to 2^53.
 *
 * **Example** (A multibulk count)
 *
 * ```ts
 * integerAt(Buffer.from("*3"), 1) // => 3
 * integerAt(Buffer.from("01"), 0) // => NaN
 * ```
 */
export const integerAt = (bytes: Uint8Array, from: number): number => {
  const end = bytes.length
  if (end === from || end - from > 20) return NaN
  if (end - from === 1 && bytes[from] === ZERO) return 0
  let i = from
  const negative = bytes[i] === MINUS
  if (negative && ++i === end) return NaN
  let value = bytes[i]! - ZERO
  if (value < 1 || value > 9) return NaN
  for (i++; i < end; i++) {
    const digit = bytes[i]! - ZERO
    if (digit < 0 || digit > 9) return NaN
    value = value * 10 + digit
  }
  return negative ? -value : value
}

const isSpace = (byte: number): boolean => byte === SPACE || (byte >= 0x09 && byte <= 0x0d)

/**
 * An inline command (a line typed at telnet) split into its arguments at
 * runs of white space. An empty line has none (redis ignores it).
 *
 * **Example** (A typed command)
 *
 * ```ts
 * splitInline(Buffer.from("SET  k v")).map(String) // => ["SET", "k", "v"]
 * ```
 */
export const splitInline = (line: Buffer): Array<Buffer> => {
  const args: Array<Buffer> = []
  let start = -1
  for (let i = 0; i <= line.length; i++) {
    if (i === line.length || isSpace(line[i]!)) {
      if (start >= 0) args.push(line.subarray(start, i))
      start = -1
    } else if (start < 0) start = i
  }
  return args
}

// =============================================================================
// Commands
// =============================================================================

/**
 * The keyspace: strings are bytes, lists are arrays (newest last). One per
 * server, shared by its connections (JavaScript runs them one at a time).
 *
 * **Example** (A server's store)
 *
 * ```ts
 * const store: Store = new Map()
 * ```
 */
export type Store = Map<string, Buffer | Array<Buffer>>

const MAX_I64 = 2n ** 63n - 1n
const MIN_I64 = -(2n ** 63n)

const incr = (store: Store, key: string): Reply => {
  const old = store.get(key)
  if (Array.isArray(old)) return WRONGTYPE
  let next: number | bigint = 1
  if (old !== undefined) {
    const n = integerAt(old, 0)
    if (Number.isNaN(n)) return NOT_INTEGER
    if (Math.abs(n) < Number.MAX_SAFE_INTEGER) next = n + 1
    else {
      const exact = BigInt(old.toString("latin1"))
      if (exact > MAX_I64 || exact < MIN_I64) return NOT_INTEGER
      if (exact === MAX_I64) return OVERFLOW
      next = exact + 1n
    }
  }
  const text = String(next)
  store.set(key, Buffer.from(text, "latin1"))
  return `:${text}\r\n`
}

/** The parameters CONFIG GET reports: what redis-benchmark asks for, as a redis without persistence has them. */
const config: Record<string, string> = { appendonly: "no", save: "" }

const configGet = (args: ReadonlyArray<Buffer>): Reply => {
  const found: Array<Uint8Array> = []
  for (const name of Object.keys(config)) {
    const asked = args.find((arg, i) => i >= 2 && arg.toString("latin1").toLowerCase() === name)
    if (asked !== undefined) found.push(bulk(asked), bulk(Buffer.from(config[name]!)))
  }
  return Buffer.concat([Buffer.from(`*${found.length}\r\n`), ...found])
}

const execute_ = (store: Store, name: string, args: ReadonlyArray<Buffer>): Reply => {
  const n = args.length
  switch (name) {
    case "get": {
      if (n !== 2) return arityError(name)
      const value = store.get(args[1]!.toString("latin1"))
      return value === undefined ? NIL : Array.isArray(value) ? WRONGTYPE : bulk(value)
    }
    case "set":
      if (n < 3) return arityError(name)
      if (n > 3) return SYNTAX
      store.set(args[1]!.toString("latin1"), Buffer.from(args[2]!))
      return OK
    case "ping":
      return n === 1 ? PONG : n === 2 ? bulk(args[1]!) : arityError(name)
    case "echo":
      return n === 2 ? bulk(args[1]!) : arityError(name)
    case "incr":
      return n === 2 ? incr(store, args[1]!.toString("latin1")) : arityError(name)
    case "lpush": {
      if (n < 3) return arityError(name)
      const key = args[1]!.toString("latin1")
      let list = store.get(key)
      if (list === undefined) store.set(key, list = [])
      else if (!Array.isArray(list)) return WRONGTYPE
      for (let i = 2; i < n; i++) list.push(Buffer.from(args[i]!))
      return `:${list.length}\r\n`
    }
    case "config": {
      if (n < 2) return arityError(name)
      if (args[1]!.toString("latin1").toLowerCase() !== "get") {
        return Buffer.concat([
          Buffer.from("-ERR unknown subcommand '"),
          cString(args[1]!, 128),
          Buffer.from("'. Try CONFIG HELP.\r\n")
        ])
      }
      return n < 3 ? arityError("config|get") : configGet(args)
    }
    default:
      return unknownCommand(args)
  }
}

/**
 * Runs one command (its name and arguments, as received) against `store`
 * and returns redis's reply.
 *
 * **Example** (SET then GET)
 *
 * ```ts
 * const store: Store = new Map()
 * execute(store, ["SET", "k", "v"].map((s) => Buffer.from(s))) // => "+OK\r\n"
 * execute(store, ["GET", "k"].map((s) => Buffer.from(s))).toString() // => "$1\r\nv\r\n"
 * ```
 */
export const execute = (store: Store, args: ReadonlyArray<Buffer>): Reply =>
  execute_(store, args[0]!.toString("latin1").toLowerCase(), args)

// =============================================================================
// The server
// =============================================================================

/** Longest line (an inline command, a `*N` or `$len` line): redis's 64 KiB. */
export const MAX_LINE = 64 * 1024
/** Most arguments in one command. */
export const MAX_ARGUMENTS = 1024 * 1024
/** Longest bulk: redis's `proto-max-bulk-len`. */
export const MAX_BULK = 512 * 1024 * 1024

/**
 * The connection handler of a server over `store`: made once per server (a
 * hoisted generator serves every connection), it reads a command, runs it,
 * sends the reply, and again, until the peer leaves or breaks the protocol.
 *
 * **Example** (Serving with a store of your own)
 *
 * ```ts
 * yield* Tcp.serve({ port: 6380, maxLineLength: MAX_LINE, handler: makeHandler(new Map()) })
 * ```
 */
export const makeHandler = (store: Store) => {
  /** Whether the line being read is a `$len` line, for the text of a too-long line. */
  interface Session {
    inBulk: boolean
  }

  const commands = Effect.fnUntraced(function*(conn: Tcp.Connection, session: Session) {
    for (;;) {
      session.inBulk = false
      const line = yield* conn.receiveBytes("*l")
      let args: Array<Buffer>
      if (line[0] === STAR) {
        const count = integerAt(line, 1)
        if (!(count <= MAX_ARGUMENTS)) return yield* conn.send(ProtocolError.invalidMultibulkLength)
        if (count <= 0) continue
        session.inBulk = true
        args = []
        for (let i = 0; i < count; i++) {
          const header = yield* conn.receiveBytes("*l")
          if (header[0] !== DOLLAR) return yield* conn.send(ProtocolError.expectedDollar(header))
          const length = integerAt(header, 1)
          if (!(length >= 0 && length <= MAX_BULK)) return yield* conn.send(ProtocolError.invalidBulkLength)
          args.push((yield* conn.receiveBytes(length + 2)).subarray(0, length))
        }
      } else {
        args = splitInline(line)
        if (args.length === 0) continue
      }
      yield* conn.send(execute(store, args))
    }
  })

  return Effect.fnUntraced(function*(conn: Tcp.Connection) {
    const session: Session = { inBulk: false }
    return yield* commands(conn, session).pipe(
      Effect.catchTag(
        "LineTooLong",
        () => conn.send(session.inBulk ? ProtocolError.tooBigBulkCount : ProtocolError.tooBigInline)
      )
    )
  })
}

/**
 * Serves the protocol on `host:port` (port 0 picks a free one: read it from
 * `server.address`) with a fresh store, until the scope closes.
 *
 * **Example** (A throwaway server in a test)
 *
 * ```ts
 * const server = yield* serve({ host: "127.0.0.1", port: 0 })
 * server.address.port // => 41234
 * ```
 */
export const serve = (options: { readonly host?: string | undefined; readonly port?: number | undefined }) =>
  Tcp.serve({
    host: options.host ?? "127.0.0.1",
    port: options.port ?? 6380,
    maxConnections: 10_000,
    backlog: 4096,
    maxLineLength: MAX_LINE,
    handler: makeHandler(new Map())
  })

if (import.meta.main) {
  const port = Number(process.argv[2] ?? 6380)
  Loop.run(Effect.scoped(Effect.gen(function*() {
    const server = yield* serve({ port })
    yield* Effect.log(`RESP server on ${server.address.host}:${server.address.port} (try: redis-cli -p ${server.address.port} PING)`)
    return yield* Effect.never
  })))
}
