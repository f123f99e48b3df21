/**
 * The Copas manual's outgoing connection: a thread connects to a server,
 * sends a request and reads the reply, while other threads go on.
 *
 *   npx fiberloop run examples/coro-client.ts <host> <port> [request]
 */
import { copas, tuple } from "../src/coro/index.ts"

const [host = "127.0.0.1", port = "20000", request = "hello"] = process.argv.slice(2)

copas.addthread(async () => {
  const skt = copas.tcp()
  skt.settimeout(5)
  await skt.connect(host, Number(port))
  await skt.send(`${request}\n`)
  // Lua's `local data, err, partial = skt:receive()`
  const [data, err, partial] = await tuple(skt.receive())
  console.log(data !== undefined ? `reply: ${data}` : `failed: ${err} (partial: ${JSON.stringify(partial)})`)
  skt.close()
})

copas.addthread(async () => {
  // another thread runs meanwhile
  console.log(`ticker slept ${(await copas.pause(0.01)).toFixed(2)} s`)
})

await copas.loop()
