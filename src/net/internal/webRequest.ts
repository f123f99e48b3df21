/**
 * A web `Request` over Node's request, built lazily.
 *
 * The object is a `Request` for a fetch handler (`instanceof Request`, every
 * property and method of `Request.prototype`), but only `method`, `url`,
 * `headers` and `signal` are its own: each is made from Node's request when
 * first read. Anything else (`body`, `text()`, `clone()`, `cache`, …) builds
 * undici's `Request` once and forwards to it, so the body follows the spec
 * (read once; `bodyUsed`; `clone` tees). Building undici's `Request` and
 * its `Headers` up front costs several microseconds per request that most
 * handlers never use.
 *
 * @since 0.1.0
 */
import type * as NodeHttp from "node:http"
import { Readable } from "node:stream"

/**
 * The error a request body's stream fails with past `maxBodySize`.
 *
 * **Example** (Recognising the limit)
 *
 * ```ts
 * const tooLarge = (cause: unknown) => cause instanceof BodyTooLarge
 * ```
 *
 * @since 0.1.0
 */
export class BodyTooLarge extends Error {}

const kAbort = Symbol.for("fiberloop/net/HttpFetch/abort")

type Aborting = NodeHttp.ServerResponse & { [kAbort]?: AbortController }

function abortOnClose(this: Aborting): void {
  if (!this.writableFinished) this[kAbort]!.abort()
}

/** An AbortSignal that aborts if the response closes before it is sent. */
const signalOf = (response: Aborting): AbortSignal => {
  let abort = response[kAbort]
  if (abort === undefined) {
    abort = response[kAbort] = new AbortController()
    if (response.closed) abortOnClose.call(response)
    else response.on("close", abortOnClose)
  }
  return abort.signal
}

const noBody = new Set(["GET", "HEAD"])

/** The `Host` header (or HTTP/2's `:authority`) from the raw headers, without Node's `headers` object. */
const hostOf = (raw: Array<string>): string => {
  for (let i = 0; i < raw.length; i += 2) {
    const name = raw[i]!
    if (name.length === 4 && name.toLowerCase() === "host") return raw[i + 1]!
    if (name === ":authority") return raw[i + 1]!
  }
  return "localhost"
}

/** The body as a web stream; past `maxBodySize` it errors with `BodyTooLarge`. */
const bodyOf = (request: NodeHttp.IncomingMessage, maxBodySize: number): ReadableStream<Uint8Array> => {
  let total = 0
  return (Readable.toWeb(request) as ReadableStream<Uint8Array>).pipeThrough(
    new TransformStream<Uint8Array, Uint8Array>({
      transform(chunk, controller) {
        total += chunk.byteLength
        if (total > maxBodySize) controller.error(new BodyTooLarge())
        else controller.enqueue(chunk)
      }
    })
  )
}

const kBuild = Symbol("fiberloop/net/webRequest/build")

/** The lazy request; its prototype chain ends in `Request.prototype`. */
class LazyRequest {
  #url: string | undefined = undefined
  #headers: Headers | undefined = undefined
  #real: Request | undefined = undefined
  readonly #incoming: NodeHttp.IncomingMessage
  readonly #outgoing: NodeHttp.ServerResponse
  readonly #maxBodySize: number
  constructor(incoming: NodeHttp.IncomingMessage, outgoing: NodeHttp.ServerResponse, maxBodySize: number) {
    this.#incoming = incoming
    this.#outgoing = outgoing
    this.#maxBodySize = maxBodySize
  }
  get method(): string {
    return this.#incoming.method ?? "GET"
  }
  get url(): string {
    if (this.#url === undefined) {
      const incoming = this.#incoming
      const scheme = (incoming.socket as { encrypted?: boolean }).encrypted === true ? "https" : "http"
      // parsed as undici's Request would (normalised, or a TypeError for a bad Host)
      this.#url = new URL(`${scheme}://${hostOf(incoming.rawHeaders)}${incoming.url ?? "/"}`).href
    }
    return this.#url
  }
  get headers(): Headers {
    if (this.#headers === undefined) {
      if (this.#real !== undefined) return this.#real.headers
      const raw = this.#incoming.rawHeaders
      const headers = new Headers()
      for (let i = 0; i < raw.length; i += 2) {
        if (raw[i]!.charCodeAt(0) !== 58) headers.append(raw[i]!, raw[i + 1]!) // ":" pseudo-headers (HTTP/2)
      }
      this.#headers = headers
    }
    return this.#headers
  }
  get signal(): AbortSignal {
    return signalOf(this.#outgoing)
  }
  /** undici's `Request`, built once, with the headers as they are now. */
  [kBuild](): Request {
    if (this.#real === undefined) {
      const method = this.method
      const init: RequestInit & { duplex?: "half" } = { method, headers: this.headers, signal: this.signal }
      if (!noBody.has(method)) {
        init.body = bodyOf(this.#incoming, this.#maxBodySize)
        init.duplex = "half"
      }
      this.#real = new Request(this.url, init)
      this.#headers = undefined // from now on undici's copy is the request's headers
    }
    return this.#real
  }
}

const own = new Set(["constructor", "method", "url", "headers", "signal"])

// every other property of Request.prototype forwards to undici's Request
for (const key of Object.getOwnPropertyNames(Request.prototype)) {
  if (own.has(key)) continue
  const descriptor = Object.getOwnPropertyDescriptor(Request.prototype, key)!
  if (descriptor.get !== undefined) {
    Object.defineProperty(LazyRequest.prototype, key, {
      configurable: true,
      enumerable: descriptor.enumerable ?? false,
      get(this: LazyRequest) {
        return (this[kBuild]() as unknown as Record<string, unknown>)[key]
      }
    })
  } else if (typeof descriptor.value === "function") {
    Object.defineProperty(LazyRequest.prototype, key, {
      configurable: true,
      enumerable: descriptor.enumerable ?? false,
      writable: true,
      value(this: LazyRequest, ...args: Array<unknown>) {
        const real = this[kBuild]() as unknown as Record<string, (...args: Array<unknown>) => unknown>
        return real[key]!(...args)
      }
    })
  }
}
Object.defineProperty(LazyRequest.prototype, "constructor", { configurable: true, writable: true, value: Request })
Object.setPrototypeOf(LazyRequest.prototype, Request.prototype)

/**
 * Node's request as a web `Request` for a fetch handler, built lazily: its
 * `signal` aborts if `response` closes before it is sent, and its body errors
 * with `BodyTooLarge` past `maxBodySize`. One difference from undici's own:
 * `new Request(request)` and `fetch(request)` do not accept it (undici
 * checks for its private state); pass `request.clone()`, which is undici's.
 *
 * **Example** (In a Node request listener)
 *
 * ```ts
 * NodeHttp.createServer((req, res) => handler(make(req, res, 1 << 20)))
 * ```
 *
 * @since 0.1.0
 */
export const make = (
  request: NodeHttp.IncomingMessage,
  response: NodeHttp.ServerResponse,
  maxBodySize: number
): Request => new LazyRequest(request, response, maxBodySize) as unknown as Request

/**
 * Answers `413` and closes an HTTP/1 connection, since the unread body may
 * follow (node:http2 ignores both for a stream).
 *
 * **Example** (A body over the limit)
 *
 * ```ts
 * if (tooLarge) return reject413(response)
 * ```
 */
export const reject413 = (response: NodeHttp.ServerResponse): void => {
  response.shouldKeepAlive = false
  response.writeHead(413, { "content-length": "0", connection: "close" })
  response.end()
}
