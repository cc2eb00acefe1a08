import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod';
import type { Backend } from '../backend.js';
import type { FeedEvent, FeedPosition } from '../feed.js';
import { parsePosition, positionText } from '../feed.js';
import type { ApiMetrics } from '../metrics.js';
import { streamQuery } from '../schemas.js';
import { problems, viewer } from './common.js';

/** Ends every open stream (when the app closes). */
export type StreamRegistry = Set<() => void>;

/** A client this far behind (bytes the socket has not taken) is cut off; it reconnects with Last-Event-ID and loses nothing. */
const MAX_BUFFERED_BYTES = 4 * 1024 * 1024;
const HEARTBEAT_MS = 15_000;

function frame(event: FeedEvent, id: string): string {
  const data = event.kind === 'finding' ? { cursor: event.cursor, finding: event.finding } : { revision: event.revision, summary: event.summary };
  return `id: ${id}\nevent: ${event.kind}\ndata: ${JSON.stringify(data)}\n\n`;
}

export const streamRoutes: FastifyPluginAsyncZod<{ backend: Backend; streams: StreamRegistry; metrics: ApiMetrics }> = async (app, { backend, streams, metrics }) => {
  app.get(
    '/stream',
    {
      config: viewer,
      schema: {
        tags: ['findings'],
        summary: 'A live stream (server-sent events) of findings and host summaries, resumable with Last-Event-ID',
        description: [
          'Events: `finding` (`{ cursor, finding }`) and `host` (`{ revision, summary }`); a comment every 15 s keeps the connection open.',
          'Without Last-Event-ID the stream starts with every host\'s current summary, then follows; with it (or `lastEventId` in the query, for clients that cannot set headers), it first sends what was missed: the findings after that point (as far back as they are held) and the summaries changed since.',
          'Each id is `<findingCursor>.<hostRevision>`: how far the client has read both.',
        ].join(' '),
        querystring: streamQuery,
        response: problems,
      },
    },
    async (request, reply) => {
      const { hostId, kinds: kindsText, lastEventId } = request.query;
      const kinds = new Set((kindsText ?? 'finding,host').split(',') as Array<FeedEvent['kind']>);
      const header = request.headers['last-event-id'];
      const lastId = (Array.isArray(header) ? header[0] : header) ?? lastEventId;
      const from = parsePosition(lastId);
      const feed = backend.feed;

      reply.hijack();
      const res = reply.raw;
      res.writeHead(200, {
        ...(reply.getHeaders() as Record<string, string>),
        'content-type': 'text/event-stream; charset=utf-8',
        'cache-control': 'no-cache, no-transform',
        connection: 'keep-alive',
        'x-accel-buffering': 'no',
      });
      // Tell the client how long to wait before reconnecting.
      res.write('retry: 2000\n\n');

      let ended = false;
      const write = (text: string): void => {
        if (ended) return;
        res.write(text);
        if (res.writableLength > MAX_BUFFERED_BYTES) end();
      };
      const wanted = (event: FeedEvent): boolean => kinds.has(event.kind) && (hostId === undefined || (event.kind === 'finding' ? event.finding.hostId : event.summary.hostId) === hostId);

      // Backlog and subscription in one turn: nothing published in between can be missed.
      const now = feed.position;
      // Ids in the backlog: findings come first, each with the host revision the client had; then
      // the summaries, each with every finding so far counted as read.
      for (const event of feed.backlog(from, { ...(hostId === undefined ? {} : { hostId }), kinds })) {
        const position =
          event.kind === 'finding'
            ? { findingCursor: event.cursor, hostRevision: from?.hostRevision ?? 0 }
            : { findingCursor: Math.max(now.findingCursor, from?.findingCursor ?? 0), hostRevision: event.revision };
        write(frame(event, positionText(position)));
      }
      const unsubscribe = feed.subscribe((event: FeedEvent, position: FeedPosition) => {
        if (wanted(event)) write(frame(event, positionText(position)));
      });
      const heartbeat = setInterval(() => write(': keep-alive\n\n'), HEARTBEAT_MS);
      metrics.streamClients.inc();

      function end(): void {
        if (ended) return;
        ended = true;
        clearInterval(heartbeat);
        unsubscribe();
        streams.delete(end);
        metrics.streamClients.dec();
        res.end();
      }
      streams.add(end);
      request.raw.once('close', end);
      res.once('close', end);
    },
  );
};
