/**
 * The Copas manual's lock: threads take turns in a critical section that
 * pauses inside it; a thread that cannot get the lock in time gives up.
 *
 *   npx fiberloop run examples/coro-lock.ts
 */
import { copas, tuple } from "../src/coro/index.ts"

const lock = copas.lock.new(5) // waits at most 5 seconds by default

const worker = async (name: string, timeout?: number) => {
  const [waited, err] = await tuple(lock.get(timeout))
  if (waited === undefined) return console.log(`${name}: could not get the lock (${err})`)
  console.log(`${name}: got the lock after ${waited.toFixed(1)} s`)
  await copas.pause(0.2) // other threads run, but cannot enter
  await lock.release()
}

for (const name of ["one", "two", "three"]) copas.addthread(worker, name)
copas.addthread(worker, "impatient", 0.1)

await copas.loop()
