/**
 * A fetch handler (`(request: Request) => Response`, what Hono and most
 * JavaScript frameworks export) on a fiberloop server.
 *
 *   npx node examples/http-fetch.ts [port]
 *   curl http://127.0.0.1:8081/time   curl -d 'hi' http://127.0.0.1:8081/echo
 */
import * as Effect from "effect/Effect"
import { Http, Loop } from "../src/index.ts"

const port = Number(process.argv[2] ?? 8081)

const fetch = async (request: Request): Promise<Response> => {
  const url = new URL(request.url)
  switch (url.pathname) {
    case "/time":
      return Response.json({ now: new Date().toISOString() })
    case "/echo":
      return new Response(await request.text())
    default:
      return new Response("not found\n", { status: 404 })
  }
}

const program = Effect.gen(function*() {
  const server = yield* Http.serve({ host: "127.0.0.1", port, fetch, maxConnections: 10_000 })
  yield* Effect.log(`fetch handler on ${server.url}`)
  return yield* Effect.never
})

Loop.run(Effect.scoped(program))
