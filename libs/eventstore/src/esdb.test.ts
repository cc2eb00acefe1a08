import { createServer, type Server, type Socket } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { StoreUnavailable } from './errors.js';
import { openEsdbEventStore, toEsdbConnectionString } from './esdb.js';
import { eventStoreContract } from './testing/contract.js';

/**
 * The contract runs against a real EventStoreDB when ESDB_CONNECTION_STRING names one. These machines
 * have none (no Debian or npm package, and no image can be pulled, so testcontainers has nothing to
 * start): the suite is then listed as skipped, with the reason. The tests after it need no server.
 */
const connectionString = process.env['ESDB_CONNECTION_STRING'];

eventStoreContract(
  'esdb',
  connectionString === undefined || connectionString === ''
    ? {
        skip:
          'EventStoreDB: no server here — set ESDB_CONNECTION_STRING=esdb://host:2113?tls=false to run the contract suite against one; ' +
          'these machines have no EventStoreDB package and cannot pull images (the testcontainers route is not tried)',
      }
    : {
        // A shared server: the contract writes fresh host-… streams per test and reads only those.
        open: () => openEsdbEventStore(connectionString),
        reopen: () => openEsdbEventStore(connectionString),
      },
);

describe('esdb adapter without a server', () => {
  let silent: Server;
  const sockets = new Set<Socket>();
  beforeAll(async () => {
    // Accepts connections and never answers: the client's first call would wait forever.
    silent = createServer((socket) => {
      sockets.add(socket);
      socket.on('close', () => sockets.delete(socket));
    });
    await new Promise<void>((resolve) => silent.listen(0, '127.0.0.1', resolve));
  });
  afterAll(async () => {
    for (const s of sockets) s.destroy();
    await new Promise<void>((resolve) => silent.close(() => resolve()));
  });

  it('fails fast with StoreUnavailable when nothing listens', async () => {
    const start = Date.now();
    const error = await openEsdbEventStore('esdb://127.0.0.1:1?tls=false', { timeoutMs: 5000 }).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(StoreUnavailable);
    expect(error).toMatchObject({ code: 'STORE_UNAVAILABLE' });
    expect((error as Error).message).toMatch(/unavailable while connecting/);
    expect((error as Error).cause).toBeDefined();
    expect(Date.now() - start).toBeLessThan(3000);
  });

  it('gives up with StoreUnavailable after its own timeout when the server accepts but never answers', async () => {
    const { port } = silent.address() as { port: number };
    const start = Date.now();
    const error = await openEsdbEventStore(`esdb://127.0.0.1:${port}?tls=false`, { timeoutMs: 600 }).catch((e: unknown) => e);
    const took = Date.now() - start;
    expect(error).toBeInstanceOf(StoreUnavailable);
    expect((error as Error).message).toMatch(/did not answer within 600 ms while connecting/);
    expect(took).toBeGreaterThanOrEqual(550);
    expect(took).toBeLessThan(3000);
    // Give the abandoned call time to fail in the background: the process must neither crash nor hang.
    await new Promise((r) => setTimeout(r, 300));
  });

  it('turns an unparsable connection string into InvalidStoreUrl', async () => {
    await expect(openEsdbEventStore('esdb://')).rejects.toMatchObject({ code: 'INVALID_STORE_URL' });
    await expect(openEsdbEventStore('http://localhost:2113')).rejects.toMatchObject({ code: 'INVALID_STORE_URL' });
  });

  it('accepts the kurrentdb schemes the 6.x client does not know', () => {
    expect(toEsdbConnectionString('kurrentdb://h:2113?tls=false')).toBe('esdb://h:2113?tls=false');
    expect(toEsdbConnectionString('kurrentdb+discover://h:2113')).toBe('esdb+discover://h:2113');
    expect(toEsdbConnectionString('esdb://h')).toBe('esdb://h');
  });
});
