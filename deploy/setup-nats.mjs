#!/usr/bin/env node
// One-shot setup of Lockline's JetStream side, as the admin user: the streams (LOCKLINE_EVENTS
// partitioned into --partitions, LOCKLINE_DLQ, LOCKLINE_FINDINGS), one ingest consumer per partition,
// and the hosts bucket, each with --replicas copies. What `lockline up` does for one machine, for a
// cluster: the compose file's `nats-setup` service and the Kubernetes Job `nats-setup` run it. It is
// idempotent (ensure*: create what is missing, update what may change, refuse what may not), so it
// runs at every deployment.
//
//   LOCKLINE_NATS_URL=nats://nats:4222 LOCKLINE_NATS_USER=admin LOCKLINE_NATS_PASSWORD=… \
//     node deploy/setup-nats.mjs --partitions 2 --replicas 3 [--allow-repartition] [--wait 120]
//
// The same variables as the services (their config.ts), so one secret serves both. It waits up to
// --wait seconds for the cluster: a JetStream cluster answers only once it has a meta leader.
import { parseArgs } from 'node:util';
import { connect } from 'nats';
import { ensureHostsBucket, ensureIngestConsumers, ensureStreams, inboxPrefixOf } from '@lockline/bus';

function fail(message) {
  console.error(`setup-nats: ${message}`);
  process.exit(2);
}

function wholeNumber(name, text, min, max) {
  const n = Number(text);
  if (!/^\d+$/.test(text ?? '') || n < min || n > max) fail(`--${name}: expected a whole number from ${min} to ${max}, got ${JSON.stringify(text ?? '')}`);
  return n;
}

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

async function main() {
  const { values } = parseArgs({
    options: {
      partitions: { type: 'string' },
      replicas: { type: 'string', default: '3' },
      'allow-repartition': { type: 'boolean', default: false },
      wait: { type: 'string', default: '120' },
    },
  });
  const partitions = wholeNumber('partitions', values.partitions, 1, 1024);
  const replicas = wholeNumber('replicas', values.replicas, 1, 5);
  const waitMs = wholeNumber('wait', values.wait, 0, 3600) * 1000;
  const url = process.env.LOCKLINE_NATS_URL;
  if (!url) fail('LOCKLINE_NATS_URL is required (e.g. nats://nats:4222)');
  const user = process.env.LOCKLINE_NATS_USER || 'admin';
  const password = process.env.LOCKLINE_NATS_PASSWORD;

  const deadline = Date.now() + waitMs;
  for (let attempt = 1; ; attempt++) {
    let nc;
    try {
      nc = await connect({
        servers: url,
        name: 'lockline-setup-nats',
        ...(password ? { user, pass: password, inboxPrefix: inboxPrefixOf(user) } : {}),
        timeout: 5000,
      });
      const jsm = await nc.jetstreamManager({ timeout: 10_000 });
      const results = [
        ...(await ensureStreams(jsm, { partitions, replicas, allowRepartition: values['allow-repartition'] })),
        ...(await ensureIngestConsumers(jsm, partitions)),
        await ensureHostsBucket(jsm, { replicas }),
      ];
      for (const r of results) console.log(`${r.resource}: ${r.action}${r.changes.length > 0 ? ` (${r.changes.join('; ')})` : ''}`);
      console.log(`setup-nats: ${partitions} partition(s), ${replicas} replica(s): done`);
      await nc.close();
      return;
    } catch (error) {
      await nc?.close().catch(() => undefined);
      // A refusal to change a stream (StreamMismatch) or bad credentials will not go away by waiting.
      const code = error?.code;
      if (code === 'STREAM_MISMATCH' || code === 'AUTHORIZATION_VIOLATION' || code === 'PERMISSION_DENIED' || Date.now() > deadline) {
        fail(`${error?.message ?? String(error)}${Date.now() > deadline ? ` (gave up after ${attempt} attempt(s))` : ''}`);
      }
      console.error(`setup-nats: not yet (${error?.message ?? String(error)}); trying again`);
      await sleep(Math.min(5000, 250 * attempt));
    }
  }
}

await main();
