/**
 * The RESP server of examples/resp-server.ts written on raw `node:net`, as a
 * user who wants it fast would: a parser on 'data' events that keeps its
 * state between chunks (collecting the chunks of a long bulk and joining them
 * once), the same commands (`execute`, on Latin-1 strings) and limits, and
 * one `socket.write` for all the replies to one 'data' event. The baseline of bench/resp.bench.ts;
 * test/peers/resp.test.ts checks it against redis-server byte for byte too.
 *
 *   npx node bench/resp-raw-server.ts [port]   (default 6381; 0 picks a free port)
 */
import * as Net from "node:net"
import {
  execute,
  integerAt,
  MAX_ARGUMENTS,
  MAX_BULK,
  MAX_LINE,
  ProtocolError,
  splitInline,
  type Store
} from "../examples/resp-server.ts"

const CR = 0x0d
const LF = 0x0a
const STAR = 0x2a
const DOLLAR = 0x24
const empty: Buffer = Buffer.alloc(0)

/** The line from `pos` (without its `\n` or `\r\n`) and where the next starts, or why there is none. */
const lineAt = (buf: Buffer, pos: number): { readonly line: Buffer; readonly next: number } | "short" | "tooLong" => {
  const nl = buf.indexOf(LF, pos)
  if (nl < 0) return buf.length - pos > MAX_LINE + 1 ? "tooLong" : "short"
  const end = nl > pos && buf[nl - 1] === CR ? nl - 1 : nl
  return end - pos > MAX_LINE ? "tooLong" : { line: buf.subarray(pos, end), next: nl + 1 }
}

const serveSocket = (socket: Net.Socket, store: Store): void => {
  /** Received bytes not parsed yet. */
  let pending = empty
  /** Chunks held back while a bulk of known length is still incomplete. */
  let held: Array<Buffer> = []
  let heldLength = 0
  /** The arguments of the multibulk being read, and how many are still to come. */
  let args: Array<string> | undefined
  let remaining = 0
  /** The length of the bulk being read (its `$len` line is parsed), or -1. */
  let bulkLength = -1
  let closing = false

  socket.on("error", () => {})
  socket.on("drain", () => socket.resume())
  socket.on("data", (chunk: Buffer) => {
    if (closing) return
    if (bulkLength >= 0 && pending.length + heldLength + chunk.length < bulkLength + 2) {
      held.push(chunk)
      heldLength += chunk.length
      return
    }
    pending = pending.length === 0 && held.length === 0 ? chunk : Buffer.concat([pending, ...held, chunk])
    held = []
    heldLength = 0

    let out = ""
    const reply = (r: string) => void (out += r)
    let pos = 0
    for (;;) {
      if (args === undefined) {
        const at = lineAt(pending, pos)
        if (at === "short") break
        if (at === "tooLong") {
          reply(ProtocolError.tooBigInline)
          closing = true
          break
        }
        pos = at.next
        if (at.line[0] !== STAR) {
          const inline = splitInline(at.line)
          if (inline.length > 0) reply(execute(store, inline))
          continue
        }
        const count = integerAt(at.line, 1)
        if (!(count <= MAX_ARGUMENTS)) {
          reply(ProtocolError.invalidMultibulkLength)
          closing = true
          break
        }
        if (count <= 0) continue
        args = []
        remaining = count
      }
      if (bulkLength < 0) {
        const at = lineAt(pending, pos)
        if (at === "short") break
        if (at === "tooLong") {
          reply(ProtocolError.tooBigBulkCount)
          closing = true
          break
        }
        if (at.line[0] !== DOLLAR) {
          reply(ProtocolError.expectedDollar(at.line))
          closing = true
          break
        }
        const length = integerAt(at.line, 1)
        if (!(length >= 0 && length <= MAX_BULK)) {
          reply(ProtocolError.invalidBulkLength)
          closing = true
          break
        }
        pos = at.next
        bulkLength = length
      }
      if (pending.length - pos < bulkLength + 2) break
      args.push(pending.toString("latin1", pos, pos + bulkLength))
      pos += bulkLength + 2
      bulkLength = -1
      if (--remaining === 0) {
        reply(execute(store, args))
        args = undefined
      }
    }
    pending = pos === pending.length ? empty : pending.subarray(pos)

    if (closing) socket.end(out, "latin1")
    else if (out.length > 0 && !socket.write(out, "latin1")) socket.pause()
  })
}

/**
 * A raw `node:net` RESP server over a fresh store (not listening yet).
 *
 * **Example** (Listening on a free port)
 *
 * ```ts
 * const server = makeRawServer().listen(0, "127.0.0.1")
 * ```
 */
export const makeRawServer = (): Net.Server => {
  const store: Store = new Map()
  return Net.createServer({ noDelay: true }, (socket) => serveSocket(socket, store))
}

if (import.meta.main) {
  const server = makeRawServer()
  server.listen(Number(process.argv[2] ?? 6381), "127.0.0.1", 4096, () => {
    const { port } = server.address() as Net.AddressInfo
    process.stdout.write(`raw RESP server on 127.0.0.1:${port}\n`)
  })
}
