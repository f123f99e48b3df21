/**
 * The Copas manual's HTTPS handler: `copas.handler` performs the TLS
 * handshake on each accepted socket, then the handler answers one request.
 *
 *   npx fiberloop run examples/coro-https.ts <port> <key.pem> <cert.pem>
 *   then: curl -k https://127.0.0.1:<port>/
 */
import { copas, type Socket } from "../src/coro/index.ts"

const [port = "20443", key = "key.pem", certificate = "cert.pem"] = process.argv.slice(2)

const sslparams = { mode: "server" as const, protocol: "any", key, certificate }

const handler = async (skt: Socket.TcpSocket) => {
  const requestLine = await skt.receive()
  for (;;) if ((await skt.receive()) === "") break // the headers, up to the empty line
  const body = `hello over ${skt.tls?.protocol}: ${requestLine}\n`
  await skt.send(
    `HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: ${Buffer.byteLength(body)}\r\n` +
      `Connection: close\r\n\r\n${body}`
  )
}

const server = await copas.addserver({ host: "127.0.0.1", port: Number(port) }, copas.handler(handler, sslparams))
console.log(`https server listening on 127.0.0.1:${server.address.port}`)
await copas.loop()
