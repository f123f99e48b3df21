/**
 * Fetch handlers (`(request: Request) => Response`) as effect/http apps.
 *
 * The request is effect/http's, seen as a web `Request` (its body read only
 * when the handler reads it). A response whose body is complete at once
 * (`new Response("text")`, `Response.json`, bytes) is sent whole, with a
 * `Content-Length`; one still being produced (a `ReadableStream`, server-sent
 * events) is streamed chunk by chunk. A handler that throws or rejects answers
 * `500`. `fromFetch` runs the handler as an effect/http app (a fiber and a
 * span per request); `toNodeListener` runs it straight from Node's request,
 * without a fiber.
 *
 * @since 0.1.0
 */
import * as Context from "effect/Context"
import * as Effect from "effect/Effect"
import * as Fiber from "effect/Fiber"
import * as HttpBody from "effect/http/HttpBody"
import * as HttpServerError from "effect/http/HttpServerError"
import * as HttpServerRequest from "effect/http/HttpServerRequest"
import * as HttpServerResponse from "effect/http/HttpServerResponse"
import * as Stream from "effect/Stream"
import type * as NodeHttp from "node:http"
import * as WebRequest from "./internal/webRequest.ts"

/**
 * A WinterCG fetch handler: what Hono and most JavaScript frameworks export.
 *
 * @category models
 * @since 0.1.0
 */
export type FetchHandler = (request: Request) => Response | Promise<Response>

const nothing = (): undefined => undefined

/**
 * Settles two microtask hops from now: after a body stream that closes right
 * after its one chunk (undici's for a string or bytes body) has closed.
 */
const soon = (): Promise<undefined> => Promise.resolve().then(nothing)

type Reader = ReadableStreamDefaultReader<Uint8Array<ArrayBuffer>>

/** The rest of a body whose first chunks were read already. */
async function* rest(
  chunks: ReadonlyArray<Uint8Array>,
  pending: ReturnType<Reader["read"]>,
  reader: Reader
): AsyncGenerator<Uint8Array> {
  yield* chunks
  for (let next = await pending; !next.done; next = await reader.read()) yield next.value
}

/**
 * A web `Response` as effect/http's response. A body that is complete at
 * once (`new Response("text")`, JSON, bytes) is sent whole, with a
 * `Content-Length`; one still being produced (a stream, SSE) is streamed.
 */
const toServerResponse = async (response: Response): Promise<HttpServerResponse.HttpServerResponse> => {
  const body = response.body
  if (body === null) return HttpServerResponse.fromWeb(response)
  const head = HttpServerResponse.fromWeb(
    new Response(null, { status: response.status, statusText: response.statusText, headers: response.headers })
  )
  const contentType = response.headers.get("content-type") ?? undefined
  const reader = body.getReader()
  const first = await reader.read()
  if (first.done) return HttpServerResponse.setBody(head, HttpBody.uint8Array(new Uint8Array(0), contentType))
  const pending = reader.read()
  const second = await Promise.race([pending, soon()])
  if (second?.done === true) return HttpServerResponse.setBody(head, HttpBody.uint8Array(first.value, contentType))
  return HttpServerResponse.setBody(
    head,
    HttpBody.stream(Stream.fromAsyncIterable(rest([first.value], pending, reader), (cause) => cause), contentType)
  )
}

/**
 * An effect/http app from a fetch handler. A handler that throws or rejects
 * answers `500`.
 *
 * **Example** (A fetch handler as an effect/http app)
 *
 * ```ts
 * const app = Http.fromFetch((request) => new Response(`hello ${new URL(request.url).pathname}`))
 * ```
 *
 * @category constructors
 * @since 0.1.0
 */
export const fromFetch = (
  handler: FetchHandler
): Effect.Effect<HttpServerResponse.HttpServerResponse, HttpServerError.HttpServerError, HttpServerRequest.HttpServerRequest> =>
  Effect.callback((resume, signal) => {
    const fiber = Fiber.getCurrent()!
    const request = Context.getUnsafe(fiber.context, HttpServerRequest.HttpServerRequest)
    const web = HttpServerRequest.toWebResult(request, { signal, context: fiber.context })
    if (web._tag === "Failure") return resume(Effect.fail(new HttpServerError.HttpServerError({ reason: web.failure })))
    new Promise<Response>((ok) => ok(handler(web.success))).then(toServerResponse).then(
      (response) => resume(Effect.succeed(response)),
      (cause) =>
        resume(Effect.fail(
          new HttpServerError.HttpServerError({
            reason: new HttpServerError.InternalError({ cause, request, description: "fetch handler failed" })
          })
        ))
    )
  })


// =============================================================================
// Straight from Node's request to the handler and back
// =============================================================================

const headersOf = (response: Response): Record<string, string | Array<string>> => {
  const headers: Record<string, string | Array<string>> = {}
  let cookies = false
  for (const [name, value] of response.headers) {
    if (name === "set-cookie") cookies = true // listed once per cookie: kept as separate lines below
    else headers[name] = value
  }
  if (cookies) headers["set-cookie"] = response.headers.getSetCookie()
  return headers
}

const drained = (response: NodeHttp.ServerResponse): Promise<void> =>
  new Promise((resolve) => {
    const done = () => {
      response.off("drain", done)
      response.off("close", done)
      resolve()
    }
    response.on("drain", done)
    response.on("close", done)
  })

/** Small bodies go out with the head in one write: as a latin1 string, which maps each byte to itself. */
const ONE_WRITE = 16 * 1024

/**
 * Writes a web `Response`: whole, with a `Content-Length`, when its body is
 * complete at once (undici's stream for a string or bytes body closes right
 * after its one chunk), else streamed with backpressure.
 */
const writeResponse = async (
  request: NodeHttp.IncomingMessage,
  response: NodeHttp.ServerResponse,
  web: Response
): Promise<void> => {
  const headers = headersOf(web)
  const body = web.body
  if (body === null || request.method === "HEAD" || web.status === 204 || web.status === 304) {
    if (body !== null) void body.cancel()
    response.writeHead(web.status, headers)
    return void response.end()
  }
  const reader = body.getReader() as Reader
  const first = await reader.read()
  if (first.done) {
    response.writeHead(web.status, headers)
    return void response.end()
  }
  const pending = reader.read()
  const second = await Promise.race([pending, soon()])
  if (second?.done === true) {
    const bytes = first.value
    if (headers["content-length"] === undefined) headers["content-length"] = String(bytes.byteLength)
    response.writeHead(web.status, headers)
    if (bytes.byteLength > ONE_WRITE) return void response.end(bytes)
    return void response.end(Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString("latin1"), "latin1")
  }
  response.writeHead(web.status, headers)
  for await (const chunk of rest([first.value], pending, reader)) {
    if (response.destroyed) return void reader.cancel()
    if (!response.write(chunk)) await drained(response)
  }
  response.end()
}

const fail = (response: NodeHttp.ServerResponse, cause: unknown): void => {
  if (response.headersSent) return void response.destroy()
  const tooLarge = cause instanceof WebRequest.BodyTooLarge ||
    (cause as { cause?: unknown } | undefined)?.cause instanceof WebRequest.BodyTooLarge
  // the rest of the body is not read: the connection cannot carry another request
  if (tooLarge) return WebRequest.reject413(response)
  response.writeHead(500, { "content-length": "0" })
  response.end()
}

/**
 * A Node request listener that runs a fetch handler without an Effect fiber
 * per request: Node's request becomes a web `Request`, built lazily (its
 * `signal` aborts if the client goes away; a body past `maxBodySize` fails to
 * read and answers `413`), and the `Response` is written back (whole, in one
 * write, when complete at once, else streamed with backpressure). A handler that throws or rejects answers
 * `500`. `Http.serve({ fetch })` uses it when no tracer is installed; with
 * one, `fromFetch` runs the handler in a traced effect/http request.
 *
 * **Example** (A fetch handler on a plain Node server)
 *
 * ```ts
 * NodeHttp.createServer(HttpFetch.toNodeListener((request) => new Response("hi"), { maxBodySize: 1 << 20 }))
 * ```
 *
 * @category constructors
 * @since 0.1.0
 */
export const toNodeListener = (
  handler: FetchHandler,
  options: { readonly maxBodySize: number }
) =>
(request: NodeHttp.IncomingMessage, response: NodeHttp.ServerResponse): void => {
  let result: Response | Promise<Response>
  try {
    result = handler(WebRequest.make(request, response, options.maxBodySize))
  } catch (cause) {
    return fail(response, cause)
  }
  // a Response returned at once is written without waiting a turn for a promise
  const written = result instanceof Response
    ? writeResponse(request, response, result)
    : Promise.resolve(result).then((web) => writeResponse(request, response, web))
  written.catch((cause) => fail(response, cause))
}
