import { assert, describe, it } from "@effect/vitest"
import * as Effect from "effect/Effect"
import { fileURLToPath } from "node:url"
import { spawnProcess } from "../net/support.ts"

const demo = fileURLToPath(new URL("../../examples/line-chat.ts", import.meta.url))

/** Two python3 chat members: alice renames herself and talks, bob lists the room and quits. */
const conversation = `
import socket, sys
port = int(sys.argv[1])
a = socket.create_connection(("127.0.0.1", port), timeout=5)
b = socket.create_connection(("127.0.0.1", port), timeout=5)
fa, fb = a.makefile("rb"), b.makefile("rb")
fa.readline(); fb.readline(); fa.readline()        # welcomes, and "guest2 joined" for alice
a.sendall(b"/nick alice\\r\\nhello bob\\n")
print(fb.readline().decode().strip())
print(fb.readline().decode().strip())
b.sendall(b"/who\\n/quit\\n")
print(fb.readline().decode().strip())
print(fb.readline().decode().strip())
print(repr(fb.read()))                             # the server closed bob's connection
fa.readline()                                      # alice's own rename
print(fa.readline().decode().strip())
`

/** Rooms: alice opens "games", bob joins, alice crashes the room (restarted, nobody dropped), bob drops. */
const rooms = `
import socket, sys
port = int(sys.argv[1])
a = socket.create_connection(("127.0.0.1", port), timeout=5)
b = socket.create_connection(("127.0.0.1", port), timeout=5)
fa, fb = a.makefile("rb"), b.makefile("rb")
line = lambda f: f.readline().decode().strip()
fa.readline(); fb.readline(); fa.readline()        # welcomes, and "guest2 joined" for alice
a.sendall(b"/join games\\n/rooms\\n")
print(line(fa))
b.sendall(b"/join games\\n")
print(line(fa))
a.sendall(b"hi games\\n")
print(line(fb))
a.sendall(b"/crash\\n")
print(line(fa))
print(line(fb))
b.sendall(b"still here?\\n")
print(line(fa))
fb.close(); b.close()                              # dropped, no /quit
print(" | ".join(sorted([line(fa), line(fa)])))
a.sendall(b"/rooms\\n/who\\n")
print(line(fa))
print(line(fa))
`

describe("examples/line-chat", () => {
  it.live("talks to real python3 clients and shuts down on SIGINT", () =>
    Effect.gen(function*() {
      const server = yield* spawnProcess(process.execPath, [demo, "0"])
      const banner = yield* server.line
      const port = Number(/127\.0\.0\.1:(\d+)/.exec(banner)?.[1])
      assert.isAbove(port, 0, banner)
      const python = yield* spawnProcess("python3", ["-c", conversation, String(port)])
      const lines = []
      for (let i = 0; i < 6; i++) lines.push(yield* python.line)
      assert.deepStrictEqual(lines, [
        "* guest1 is now alice",
        "<alice> hello bob",
        "* here: alice, guest2",
        "* bye",
        "b''",
        "* guest2 left"
      ], python.stderr())
      assert.strictEqual(yield* python.exited, 0)
      server.child.kill("SIGINT")
      const code = yield* server.exited
      assert.include([0, 130], code, server.stderr())
    }).pipe(Effect.timeout("50 seconds")), { timeout: 60_000 })

  it.live("rooms: /join, /rooms, a crashed room restarted without dropping anyone, a dropped member leaves", () =>
    Effect.gen(function*() {
      const server = yield* spawnProcess(process.execPath, [demo, "0"])
      const banner = yield* server.line
      const port = Number(/127\.0\.0\.1:(\d+)/.exec(banner)?.[1])
      assert.isAbove(port, 0, banner)
      const python = yield* spawnProcess("python3", ["-c", rooms, String(port)])
      const lines = []
      for (let i = 0; i < 9; i++) lines.push(yield* python.line)
      assert.deepStrictEqual(lines, [
        "* rooms: main (2), games (1)",
        "[games] * guest2 joined",
        "[games] <guest1> hi games",
        "[games] * room games restarted",
        "[games] * room games restarted",
        "[games] <guest2> still here?",
        "* guest2 left | [games] * guest2 left",
        "* rooms: main (1), games (1)",
        "* here: guest1"
      ], python.stderr())
      assert.strictEqual(yield* python.exited, 0)
      let logged = false
      for (let i = 0; i < 200 && !logged; i++) logged = (yield* server.line).includes("actor room:games restarting")
      assert.isTrue(logged, "the supervisor logged the restart")
      server.child.kill("SIGINT")
      const code = yield* server.exited
      assert.include([0, 130], code, server.stderr())
    }).pipe(Effect.timeout("50 seconds")), { timeout: 60_000 })
})
