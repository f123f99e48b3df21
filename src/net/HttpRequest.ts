/**
 * Copas-style HTTP requests (`copas.http.request`) over Effect's `HttpClient`.
 *
 * Two shapes, as in Copas (LuaSocket's `http.request`): `request(url, body?)`
 * (a GET, or a POST of `body` as a form) and `request({ url, method, headers,
 * body | source, sink, timeout, redirect, maxredirects })`. Both resolve with
 * the body, status code, headers and status line. Redirects (301, 302, 303,
 * 307, 308) are followed for GET and HEAD (and 303 for any method, as a GET),
 * up to `maxredirects` (default 5), between http and https; a redirect from
 * https to http is refused unless `redirect: "all"`. After a redirect,
 * `headers.location` is the location followed. Failures are one typed
 * `HttpRequestError` whose `err` is Copas's error string.
 *
 * `request` is the Effect (it needs an `HttpClient`: Effect users keep their
 * own, with its middleware); `requestAsync` is the same as a plain async
 * function on Node's global undici dispatcher, for the coroutine facade.
 *
 * @since 0.1.0
 */
import * as NodeHttpClient from "@effect/platform-node/NodeHttpClient"
import * as Cause from "effect/Cause"
import * as Data from "effect/Data"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as HttpBody from "effect/http/HttpBody"
import * as HttpClient from "effect/http/HttpClient"
import * as HttpClientRequest from "effect/http/HttpClientRequest"
import type * as HttpClientResponse from "effect/http/HttpClientResponse"
import type { HttpMethod } from "effect/http/HttpMethod"
import * as Layer from "effect/Layer"
import * as Stream from "effect/Stream"
import { STATUS_CODES } from "node:http"

// =============================================================================
// Models
// =============================================================================

/**
 * The table form of a request.
 *
 * @category models
 * @since 0.1.0
 */
export interface Options {
  readonly url: string
  /** Default `GET`, or `POST` when there is a body. */
  readonly method?: string | undefined
  readonly headers?: Readonly<Record<string, string>> | undefined
  /** The request body. */
  readonly body?: string | Uint8Array | undefined
  /** A streamed request body (Copas's `source`); set `content-length` in `headers` if the server needs it. */
  readonly source?: AsyncIterable<string | Uint8Array> | undefined
  /** Receives the response body chunk by chunk (Copas's `sink`); `body` is then empty. */
  readonly sink?: ((chunk: Uint8Array) => void) | undefined
  /**
   * Bounds the whole exchange, redirects included: seconds (Copas) or a
   * Duration; `{ connect, send, receive }` bounds it by their sum. Default 60 seconds.
   */
  readonly timeout?:
    | number
    | Duration.Input
    | {
      readonly connect?: number | undefined
      readonly send?: number | undefined
      readonly receive?: number | undefined
    }
    | undefined
  /** `false`: never follow redirects; `"all"`: also from https to http. Default true. */
  readonly redirect?: boolean | "all" | undefined
  /** Redirects followed at most; past it, the redirect response is returned. Default 5. */
  readonly maxredirects?: number | undefined
}

/**
 * What a request resolves with.
 *
 * @category models
 * @since 0.1.0
 */
export interface Response {
  /** The response body as text (empty with a `sink`). */
  readonly body: string
  /** The status code. */
  readonly code: number
  /** Header names in lower case; `location` is the one followed after a redirect. */
  readonly headers: Readonly<Record<string, string>>
  /** `"HTTP/1.1 200 OK"`. */
  readonly status: string
}

/**
 * A failed request. `err` is Copas's error string.
 *
 * @category errors
 * @since 0.1.0
 */
export class HttpRequestError extends Data.TaggedError("HttpRequestError")<{
  readonly reason: "InvalidUrl" | "InsecureRedirect" | "Timeout" | "Transport"
  readonly url: string
  readonly cause?: unknown
}> {
  /** Copas's error string: `"timeout"`, `"Unallowed insecure redirect https to http"`, … */
  get err(): string {
    switch (this.reason) {
      case "Timeout":
        return "timeout"
      case "InsecureRedirect":
        return "Unallowed insecure redirect https to http"
      case "InvalidUrl":
        return `invalid url: ${this.url}`
      case "Transport":
        return transportMessage(this.cause)
    }
  }

  override get message(): string {
    return `${this.err} (${this.url})`
  }
}

const transportMessage = (cause: unknown): string => {
  let error: unknown = cause
  for (let depth = 0; depth < 5 && error !== undefined; depth++) {
    const code = (error as { code?: unknown }).code
    if (code === "ECONNREFUSED") return "connection refused"
    if (code === "ECONNRESET" || code === "UND_ERR_SOCKET") return "closed"
    if (code === "ENOTFOUND" || code === "EAI_AGAIN") return "host not found"
    error = (error as { cause?: unknown }).cause
  }
  return cause instanceof Error ? cause.message : String(cause)
}

// =============================================================================
// Request
// =============================================================================

const redirectCodes = new Set([301, 302, 303, 307, 308])

const timeoutMillis = (timeout: Options["timeout"]): number => {
  if (timeout === undefined) return 60_000
  if (typeof timeout === "number") return timeout * 1000
  if (typeof timeout === "object" && ("connect" in timeout || "send" in timeout || "receive" in timeout)) {
    const t = timeout as { connect?: number; send?: number; receive?: number }
    return ((t.connect ?? 60) + (t.send ?? 60) + (t.receive ?? 60)) * 1000
  }
  return Duration.toMillis(Duration.fromInputUnsafe(timeout as Duration.Input))
}

/** The `content-type` the caller set, which the body must carry (else it sets its own). */
const contentTypeOf = (options: Options): string | undefined => {
  for (const name in options.headers) {
    if (name.toLowerCase() === "content-type") return options.headers[name]
  }
  return undefined
}

const bodyOf = (options: Options): HttpBody.HttpBody | undefined => {
  const contentType = contentTypeOf(options)
  if (options.body !== undefined) {
    return typeof options.body === "string"
      ? HttpBody.text(options.body, contentType)
      : HttpBody.uint8Array(options.body, contentType)
  }
  if (options.source !== undefined) {
    const encoder = new TextEncoder()
    const source = options.source
    return HttpBody.stream(
      Stream.fromAsyncIterable(source, (cause) => cause).pipe(
        Stream.map((chunk) => typeof chunk === "string" ? encoder.encode(chunk) : chunk),
        Stream.orDie
      ),
      contentType
    )
  }
  return undefined
}

const headersOf = (response: HttpClientResponse.HttpClientResponse, location: string | undefined) => {
  const headers: Record<string, string> = { ...response.headers }
  if (location !== undefined) headers.location = location
  return headers
}

/** One exchange per hop, following redirects. */
const exchange = (client: HttpClient.HttpClient, options: Options) =>
  Effect.gen(function*() {
    const body = bodyOf(options)
    let method = (options.method ?? (body === undefined ? "GET" : "POST")).toUpperCase() as HttpMethod
    let url = options.url
    let followed: string | undefined
    let hops = 0
    const maxRedirects = options.maxredirects ?? 5
    for (;;) {
      const parsed = URL.canParse(url) ? new URL(url) : undefined
      if (parsed === undefined || (parsed.protocol !== "http:" && parsed.protocol !== "https:")) {
        return yield* new HttpRequestError({ reason: "InvalidUrl", url })
      }
      let request = HttpClientRequest.make(method)(parsed, {
        ...(options.headers !== undefined && { headers: options.headers })
      })
      if (body !== undefined && hops === 0) request = HttpClientRequest.setBody(request, body)
      const response = yield* client.execute(request).pipe(
        Effect.mapError((cause) => new HttpRequestError({ reason: "Transport", url, cause }))
      )
      const location = response.headers.location
      const follow = options.redirect !== false && location !== undefined && redirectCodes.has(response.status) &&
        hops < maxRedirects && (response.status === 303 || method === "GET" || method === "HEAD")
      if (follow) {
        const next = new URL(location, parsed)
        if (parsed.protocol === "https:" && next.protocol === "http:" && options.redirect !== "all") {
          return yield* new HttpRequestError({ reason: "InsecureRedirect", url: next.href })
        }
        // the redirect's own body is not needed
        yield* Stream.runDrain(response.stream).pipe(Effect.ignore)
        if (response.status === 303 && method !== "HEAD") method = "GET"
        url = next.href
        followed = next.href
        hops++
        continue
      }
      const text = options.sink === undefined
        ? yield* response.text
        : yield* Stream.runForEach(response.stream, (chunk) => Effect.sync(() => options.sink!(chunk))).pipe(
          Effect.as("")
        )
      return {
        body: text,
        code: response.status,
        headers: headersOf(response, followed),
        status: `HTTP/1.1 ${response.status} ${STATUS_CODES[response.status] ?? ""}`.trimEnd()
      } satisfies Response
    }
  }).pipe(
    Effect.catchTag("HttpClientError", (cause) =>
      Effect.fail(new HttpRequestError({ reason: "Transport", url: options.url, cause })))
  )

const normalize = (urlOrOptions: string | Options, body?: string | undefined): Options =>
  typeof urlOrOptions === "string"
    ? {
      url: urlOrOptions,
      ...(body !== undefined && {
        body,
        method: "POST",
        headers: { "content-type": "application/x-www-form-urlencoded" }
      })
    }
    : urlOrOptions

/**
 * Sends a request with the `HttpClient` in context.
 *
 * **Example** (The two Copas shapes)
 *
 * ```ts
 * const page = yield* HttpRequest.request("http://127.0.0.1:8080/")
 * page.code // => 200
 * const posted = yield* HttpRequest.request({ url: "http://127.0.0.1:8080/api", method: "PUT", body: "{}", timeout: 5 })
 * ```
 *
 * @category constructors
 * @since 0.1.0
 */
export const request: {
  (url: string, body?: string | undefined): Effect.Effect<Response, HttpRequestError, HttpClient.HttpClient>
  (options: Options): Effect.Effect<Response, HttpRequestError, HttpClient.HttpClient>
} = Effect.fnUntraced(function*(urlOrOptions: string | Options, body?: string | undefined) {
  const options = normalize(urlOrOptions, body)
  const client = yield* HttpClient.HttpClient
  return yield* exchange(client, options).pipe(
    Effect.scoped,
    Effect.timeoutOrElse({
      duration: timeoutMillis(options.timeout),
      orElse: () => Effect.fail(new HttpRequestError({ reason: "Timeout", url: options.url }))
    })
  )
})

/**
 * The `HttpClient` that `requestAsync` and the coroutine facade's
 * `copas.http.request` use: undici on Node's global dispatcher, nothing to
 * open or close per call.
 *
 * **Example** (Running `request` without an application client)
 *
 * ```ts
 * HttpRequest.request("http://127.0.0.1:8080/").pipe(Effect.provide(HttpRequest.layerClient))
 * ```
 *
 * @category layers
 * @since 0.1.0
 */
export const layerClient: Layer.Layer<HttpClient.HttpClient> = NodeHttpClient.layerUndiciNoDispatcher.pipe(
  Layer.provide(NodeHttpClient.dispatcherLayerGlobal)
)

/**
 * `request` as a plain async function, on Node's global HTTP dispatcher;
 * it rejects with an `HttpRequestError`.
 *
 * **Example** (From a coroutine)
 *
 * ```ts
 * const { body, code } = await HttpRequest.requestAsync("http://127.0.0.1:8080/")
 * ```
 *
 * @category constructors
 * @since 0.1.0
 */
export const requestAsync: {
  (url: string, body?: string | undefined): Promise<Response>
  (options: Options): Promise<Response>
} = async (urlOrOptions: string | Options, body?: string | undefined): Promise<Response> => {
  const exit = await Effect.runPromiseExit(Effect.provide(request(normalize(urlOrOptions, body)), layerClient))
  if (Exit.isSuccess(exit)) return exit.value
  throw Cause.squash(exit.cause)
}
