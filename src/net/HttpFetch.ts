/**
 * Fetch handlers (`(request: Request) => Response`) as effect/http apps.
 *
 * The request is effect/http's, seen as a web `Request` (its body read only
 * when the handler reads it). A response whose body is complete at once
 * (`new Response("text")`, `Response.json`, bytes) is sent whole, with a
 * `Content-Length`; one still being produced (a `ReadableStream`, server-sent
 * events) is streamed chunk by chunk. A handler that throws or rejects answers
 * `500`.
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

/**
 * A WinterCG fetch handler: what Hono and most JavaScript frameworks export.
 *
 * @category models
 * @since 0.1.0
 */
export type FetchHandler = (request: Request) => Response | Promise<Response>

const nextTurn = (): Promise<undefined> => new Promise((resolve) => setImmediate(resolve, undefined))

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
  const second = await Promise.race([pending, nextTurn()])
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

