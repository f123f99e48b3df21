/**
 * A Redis-protocol (RESP2) server: PING, ECHO, SET, GET, INCR, LPUSH and the
 * `CONFIG GET save|appendonly` that redis-benchmark asks first, answering
 * byte for byte as redis-server 7 does (its error texts included), over
 * multibulk and inline (telnet-typed) commands, pipelined or not.
 *
 *   npx node examples/resp-server.ts [port]   (default 6380; 0 picks a free port)
 *   then: redis-cli -p <port> PING, or redis-benchmark -p <port> -q -t ping,set,get,incr,lpush
 *
 * The handler reads each command with one read, through the `commands`
 * frame decoder, and sends each reply on its own: fiberloop serves reads
 * from buffered input and coalesces the sends of a pipelined batch itself.
 * `makePatternHandler` is the same server written with one read pattern per
 * `*N` line, `$len` line and bulk. Work per peer is bounded: a line over
 * 64 KiB, a bulk over 512 MiB or more than 1,048,576 arguments is a protocol
 * error that closes the connection, like redis; the decoder also closes it
 * on a command over 1 GiB in all. Keys, values and replies are Latin-1 strings (one character per
 * byte: binary safe, and no `Buffer` per reply). Not
 * redis: SET takes no options (they get redis's "syntax error"), inline
 * commands split on white space without quotes, CONFIG GET knows `save` and
 * `appendonly` only.
 */
import * as Data from "effect/Data"
import * as Effect from "effect/Effect"
import { Decoder, Loop, Tcp } from "../src/index.ts"

// =============================================================================
// Replies
// =============================================================================

/** A reply, as a Latin-1 string (one character per byte). */
export type Reply = string

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
  /** Where a `$len` line was expected; `line` came instead (an empty one is a CR, printed as a space). */
  expectedDollar: (line: Uint8Array): string =>
    `-ERR Protocol error: expected '$', got '${line.length === 0 ? " " : String.fromCharCode(line[0]!)}'\r\n`
} as const

const ZERO = 0x30
const MINUS = 0x2d
const STAR = 0x2a
const DOLLAR = 0x24

/**
 * A bulk string reply, `$<length>\r\n<bytes>\r\n`.
 *
 * **Example** (Replying to GET)
 *
 * ```ts
 * bulk("bar") // => "$3\r\nbar\r\n"
 * ```
 */
export const bulk = (value: string): string => `$${value.length}\r\n${value}\r\n`

/** The text up to the first NUL and at most `max` characters of it, as C's `%.*s` prints it. */
const cString = (text: string, max: number): string => {
  const nul = text.indexOf("\0")
  return text.slice(0, Math.min(nul < 0 ? text.length : nul, Math.max(max, 0)))
}

/** redis's text for an unknown command: the name and the arguments' first 128 bytes, CR and LF made spaces. */
const unknownCommand = (args: ReadonlyArray<string>): string => {
  let quoted = ""
  for (let i = 1; i < args.length && quoted.length < 128; i++) quoted += `'${cString(args[i]!, 128 - quoted.length)}' `
  const text = `ERR unknown command '${cString(args[0]!, 128)}', with args beginning with: ${quoted}`
  return `-${text.replace(/[\r\n]/g, " ")}\r\n`
}

// =============================================================================
// Parsing
// =============================================================================

/**
 * The integer in `bytes` from `from` to `end` (default: the end; a `*N` or
 * `$len` line), by redis's strict rules (`string2ll`: optional `-`, no
 * leading zeros, no `+` or spaces, at most 20 characters), or `NaN`. Exact
 * up to 2^53.
 *
 * **Example** (A multibulk count)
 *
 * ```ts
 * integerAt(Buffer.from("*3"), 1) // => 3
 * integerAt(Buffer.from("01"), 0) // => NaN
 * ```
 */
export const integerAt = (bytes: Uint8Array, from: number, end: number = bytes.length): number => {
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

/**
 * An inline command (a line typed at telnet) split into its arguments at
 * runs of white space (C's `isspace`). An empty line has none (redis ignores it).
 *
 * **Example** (A typed command)
 *
 * ```ts
 * splitInline(Buffer.from("SET  k v")) // => ["SET", "k", "v"]
 * ```
 */
export const splitInline = (line: Buffer): Array<string> =>
  line.toString("latin1").split(/[ \t\n\v\f\r]+/).filter((arg) => arg.length > 0)

// =============================================================================
// Commands
// =============================================================================

/**
 * The keyspace: strings (Latin-1, one character per byte) and lists as
 * arrays (newest last). One per server, shared by its connections
 * (JavaScript runs them one at a time).
 *
 * **Example** (A server's store)
 *
 * ```ts
 * const store: Store = new Map()
 * ```
 */
export type Store = Map<string, string | Array<string>>

const MAX_I64 = 2n ** 63n - 1n
const MIN_I64 = -(2n ** 63n)

/** An integer as `string2ll` accepts it (see `integerAt`). */
const INTEGER = /^(?:0|-?[1-9][0-9]{0,19})$/

const incr = (store: Store, key: string): Reply => {
  const old = store.get(key)
  if (Array.isArray(old)) return WRONGTYPE
  let next: number | bigint = 1
  if (old !== undefined) {
    if (!INTEGER.test(old)) return NOT_INTEGER
    const n = Number(old)
    if (Math.abs(n) < Number.MAX_SAFE_INTEGER) next = n + 1
    else {
      const exact = BigInt(old)
      if (exact > MAX_I64 || exact < MIN_I64) return NOT_INTEGER
      if (exact === MAX_I64) return OVERFLOW
      next = exact + 1n
    }
  }
  const text = String(next)
  store.set(key, text)
  return `:${text}\r\n`
}

/** The parameters CONFIG GET reports: what redis-benchmark asks for, as a redis without persistence has them. */
const config: Record<string, string> = { appendonly: "no", save: "" }

const configGet = (args: ReadonlyArray<string>): Reply => {
  let found = ""
  let count = 0
  for (const name of Object.keys(config)) {
    const asked = args.find((arg, i) => i >= 2 && arg.toLowerCase() === name)
    if (asked !== undefined) {
      found += bulk(asked) + bulk(config[name]!)
      count += 2
    }
  }
  return `*${count}\r\n${found}`
}

const execute_ = (store: Store, name: string, args: ReadonlyArray<string>): Reply => {
  const n = args.length
  switch (name) {
    case "get": {
      if (n !== 2) return arityError(name)
      const value = store.get(args[1]!)
      return value === undefined ? NIL : Array.isArray(value) ? WRONGTYPE : bulk(value)
    }
    case "set":
      if (n < 3) return arityError(name)
      if (n > 3) return SYNTAX
      store.set(args[1]!, args[2]!)
      return OK
    case "ping":
      return n === 1 ? PONG : n === 2 ? bulk(args[1]!) : arityError(name)
    case "echo":
      return n === 2 ? bulk(args[1]!) : arityError(name)
    case "incr":
      return n === 2 ? incr(store, args[1]!) : arityError(name)
    case "lpush": {
      if (n < 3) return arityError(name)
      const key = args[1]!
      let list = store.get(key)
      if (list === undefined) store.set(key, list = [])
      else if (!Array.isArray(list)) return WRONGTYPE
      for (let i = 2; i < n; i++) list.push(args[i]!)
      return `:${list.length}\r\n`
    }
    case "config": {
      if (n < 2) return arityError(name)
      if (args[1]!.toLowerCase() !== "get") {
        return `-ERR unknown subcommand '${cString(args[1]!, 128)}'. Try CONFIG HELP.\r\n`
      }
      return n < 3 ? arityError("config|get") : configGet(args)
    }
    default:
      return unknownCommand(args)
  }
}

/**
 * Runs one command (its name and arguments, as received, in Latin-1)
 * against `store` and returns redis's reply.
 *
 * **Example** (SET then GET)
 *
 * ```ts
 * const store: Store = new Map()
 * execute(store, ["SET", "k", "v"]) // => "+OK\r\n"
 * execute(store, ["GET", "k"]) // => "$1\r\nv\r\n"
 * ```
 */
export const execute = (store: Store, args: ReadonlyArray<string>): Reply =>
  execute_(store, args[0]!.toLowerCase(), args)

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
 * Most bytes of one command, for the decoder: the size of redis's
 * `client-query-buffer-limit` (which bounds the unparsed part of a command
 * rather than all of it; past it, redis closes the connection too).
 */
export const MAX_COMMAND = 1024 * 1024 * 1024

/**
 * A protocol error: the connection gets `reply` (redis's text) and is closed.
 *
 * **Example** (The reply to a bad bulk length)
 *
 * ```ts
 * new ProtocolViolation({ reply: ProtocolError.invalidBulkLength })
 * ```
 */
export class ProtocolViolation extends Data.TaggedError("ProtocolViolation")<{ readonly reply: string }> {}

/**
 * A command being decoded, kept between the decoder's calls while it
 * arrives: the arguments so far, where the next line or bulk starts (from
 * the command's first byte), the bulks still to come (-1 before the `*N`
 * line), the length of the bulk whose `$len` line has been read (-1 if
 * none), and how far the search for the end of an unfinished line got.
 */
interface Partial {
  args: Array<string>
  at: number
  left: number
  bulk: number
  scanned: number
}

const LF = 0x0a
const CR = 0x0d

/**
 * The end (without CR) of the line starting `at` bytes into the command, or
 * -1 if it has not all come or is too long (then `input` has failed with
 * redis's error: "too big bulk count string" for a `$len` line).
 */
const lineEnd = (input: Decoder.FrameInput<ProtocolViolation>, p: Partial, inBulk: boolean): number => {
  const { bytes, start, end } = input
  const from = start + p.at
  const lf = bytes.indexOf(LF, start + Math.max(p.at, p.scanned))
  if (lf < 0) {
    p.scanned = end - start
    // as redis: a line may be MAX_LINE bytes and its CR, waiting for the LF
    if (end - from > MAX_LINE + 1) tooBig(input, inBulk)
    return -1
  }
  p.scanned = 0
  const last = lf > from && bytes[lf - 1] === CR ? lf - 1 : lf
  if (last - from > MAX_LINE) {
    tooBig(input, inBulk)
    return -1
  }
  return last
}

const tooBig = (input: Decoder.FrameInput<ProtocolViolation>, inBulk: boolean) =>
  input.fail(new ProtocolViolation({ reply: inBulk ? ProtocolError.tooBigBulkCount : ProtocolError.tooBigInline }))

const violation = (input: Decoder.FrameInput<ProtocolViolation>, reply: string) =>
  input.fail(new ProtocolViolation({ reply }))

/** The command ends after `length` bytes: they are consumed, and the next command starts afresh. */
const done = (input: Decoder.FrameInput<ProtocolViolation>, p: Partial, length: number): Array<string> => {
  input.consume(length)
  const args = p.args
  p.args = []
  p.at = 0
  p.left = -1
  p.bulk = -1
  p.scanned = 0
  return args
}

/**
 * Decodes one command, multibulk (`*2\r\n$3\r\nGET\r\n$1\r\nk\r\n`) or inline
 * (`GET k\r\n`), into its arguments (Latin-1), with redis's protocol errors.
 * Resumes where the last call stopped, and asks for a bulk's bytes all at
 * once, so a command costs time linear in its bytes however they arrive.
 */
const decodeCommand = (input: Decoder.FrameInput<ProtocolViolation>, p: Partial): Array<string> | undefined => {
  const { bytes, start, end } = input
  if (p.left < 0) {
    const last = lineEnd(input, p, false)
    if (last < 0) return undefined
    const next = bytes[last] === CR ? last + 2 - start : last + 1 - start
    if (bytes[start] !== STAR) {
      const args = splitInline(bytes.subarray(start, last))
      done(input, p, next)
      return args.length === 0 ? undefined : args
    }
    const count = integerAt(bytes, start + 1, last)
    if (!(count <= MAX_ARGUMENTS)) return violation(input, ProtocolError.invalidMultibulkLength)
    if (count <= 0) {
      done(input, p, next)
      return undefined
    }
    p.left = count
    p.at = next
  }
  for (;;) {
    if (p.bulk < 0) {
      const last = lineEnd(input, p, true)
      if (last < 0) return undefined
      const from = start + p.at
      if (bytes[from] !== DOLLAR) return violation(input, ProtocolError.expectedDollar(bytes.subarray(from, last)))
      const length = integerAt(bytes, from + 1, last)
      if (!(length >= 0 && length <= MAX_BULK)) return violation(input, ProtocolError.invalidBulkLength)
      p.bulk = length
      p.at = (bytes[last] === CR ? last + 2 : last + 1) - start
    }
    // the bulk and its CRLF (not checked, as redis does not)
    const bulkEnd = p.at + p.bulk + 2
    if (end - start < bulkEnd) return input.need(bulkEnd)
    p.args.push(bytes.toString("latin1", start + p.at, start + p.at + p.bulk))
    p.at = bulkEnd
    p.bulk = -1
    if (--p.left === 0) return done(input, p, bulkEnd)
  }
}

/**
 * The command decoder: one frame per command, its arguments as Latin-1
 * strings; a protocol error fails the read with `ProtocolViolation`, a
 * command over `MAX_COMMAND` bytes with `FrameTooLong`.
 *
 * **Example** (Reading a command)
 *
 * ```ts
 * const args = yield* conn.receiveFrame(commands) // ["SET", "k", "v"]
 * ```
 */
export const commands = Decoder.make({
  maxFrameLength: MAX_COMMAND,
  state: (): Partial => ({ args: [], at: 0, left: -1, bulk: -1, scanned: 0 }),
  decode: decodeCommand
})

/**
 * The connection handler of a server over `store`, made once per server (a
 * hoisted generator serves every connection): it reads a command with the
 * `commands` decoder, runs it, sends the reply, and again, until the peer
 * leaves or breaks the protocol.
 *
 * **Example** (Serving with a store of your own)
 *
 * ```ts
 * yield* Tcp.serve({ port: 6380, handler: makeHandler(new Map()) })
 * ```
 */
export const makeHandler = (store: Store) =>
  Effect.fnUntraced(
    function*(conn: Tcp.Connection) {
      for (;;) {
        const args = yield* conn.receiveFrame(commands)
        yield* conn.send(execute(store, args), "latin1")
      }
    },
    (effect, conn) => Effect.catchTag(effect, "ProtocolViolation", (e) => conn.send(e.reply, "latin1"))
  )

/**
 * The same handler written with read patterns instead of a decoder: a
 * `*N` line, then a `$len` line and a bulk per argument, each its own read
 * (simpler to write, one effect per piece; `serve({ framing: "patterns" })`).
 *
 * **Example** (Serving with read patterns)
 *
 * ```ts
 * yield* Tcp.serve({ port: 6380, maxLineLength: MAX_LINE, handler: makePatternHandler(new Map()) })
 * ```
 */
export const makePatternHandler = (store: Store) => {
  /** Whether the line being read is a `$len` line, for the text of a too-long line. */
  interface Session {
    inBulk: boolean
  }

  const commands = Effect.fnUntraced(function*(conn: Tcp.Connection, session: Session) {
    for (;;) {
      session.inBulk = false
      const line = yield* conn.receiveBytes("*l")
      let args: Array<string>
      if (line[0] === STAR) {
        const count = integerAt(line, 1)
        if (!(count <= MAX_ARGUMENTS)) return yield* conn.send(ProtocolError.invalidMultibulkLength, "latin1")
        if (count <= 0) continue
        session.inBulk = true
        args = []
        for (let i = 0; i < count; i++) {
          const header = yield* conn.receiveBytes("*l")
          if (header[0] !== DOLLAR) return yield* conn.send(ProtocolError.expectedDollar(header), "latin1")
          const length = integerAt(header, 1)
          if (!(length >= 0 && length <= MAX_BULK)) return yield* conn.send(ProtocolError.invalidBulkLength, "latin1")
          args.push((yield* conn.receive(length + 2, "latin1")).slice(0, length))
        }
      } else {
        args = splitInline(line)
        if (args.length === 0) continue
      }
      yield* conn.send(execute(store, args), "latin1")
    }
  })

  return Effect.fnUntraced(function*(conn: Tcp.Connection) {
    const session: Session = { inBulk: false }
    return yield* commands(conn, session).pipe(
      Effect.catchTag(
        "LineTooLong",
        () => conn.send(session.inBulk ? ProtocolError.tooBigBulkCount : ProtocolError.tooBigInline, "latin1")
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
export const serve = (options: {
  readonly host?: string | undefined
  readonly port?: number | undefined
  /** How the handler reads commands: the `commands` decoder (default) or read patterns. */
  readonly framing?: "decoder" | "patterns" | undefined
}) =>
  Tcp.serve({
    host: options.host ?? "127.0.0.1",
    port: options.port ?? 6380,
    maxConnections: 10_000,
    backlog: 4096,
    maxLineLength: MAX_LINE,
    // RESP clients speak first: a connection gets its fiber at its first command, and one silent for a
    // minute after connecting is closed (redis-server keeps it; a pool that connects ahead reconnects)
    deferAccept: "60 seconds",
    handler: options.framing === "patterns" ? makePatternHandler(new Map()) : makeHandler(new Map())
  })

if (import.meta.main) {
  const port = Number(process.argv[2] ?? 6380)
  Loop.run(Effect.scoped(Effect.gen(function*() {
    const server = yield* serve({ port })
    const { host, port: bound } = server.address
    yield* Effect.log(`RESP server on ${host}:${bound} (try: redis-cli -p ${bound} PING)`)
    return yield* Effect.never
  })))
}
