import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod';
import type { Backend } from '../backend.js';
import { bootQuery, explanation, hostParams, hostState, processDetail, processParams, processQuery, tree, treeQuery } from '../schemas.js';
import { processDetailOf, treeOf } from '../views.js';
import { problems, viewer } from './common.js';

export const hostRoutes: FastifyPluginAsyncZod<{ backend: Backend }> = async (app, { backend }) => {
  app.get(
    '/hosts/:hostId',
    {
      config: viewer,
      schema: {
        tags: ['hosts'],
        summary: "A host's state: seq, state hash, locked pages, findings by code, gaps, the boots held",
        params: hostParams,
        querystring: bootQuery,
        response: { 200: hostState, ...problems },
      },
    },
    async (request) => backend.hostState(request.params.hostId, request.query.bootId),
  );

  app.get(
    '/hosts/:hostId/tree',
    {
      config: viewer,
      schema: {
        tags: ['hosts'],
        summary: "A host's process tree: lineage (ppid, children), exec chain, mm of each process, and the mms shared",
        description: '`only=locked` keeps the processes holding locked memory; `only=over-limit` those whose locked memory exceeds their RLIMIT_MEMLOCK without CAP_IPC_LOCK.',
        params: hostParams,
        querystring: treeQuery,
        response: { 200: tree, ...problems },
      },
    },
    async (request) => {
      const { bootId, only } = request.query;
      return treeOf(await backend.tree(request.params.hostId, { ...(bootId === undefined ? {} : { bootId }), ...(only === undefined ? {} : { only }) }));
    },
  );

  app.get(
    '/hosts/:hostId/processes/:pid',
    {
      config: viewer,
      schema: {
        tags: ['hosts'],
        summary: 'One process: its mm (def_flags, mcl_inherit, locked and total pages, VMAs) and why its memory is locked',
        description: 'Now, or at `seq` (time travel). `mm.vmas` lists every VMA of its mm; `mm.lockedRanges` the locked ones with their provenance.',
        params: processParams,
        querystring: processQuery,
        response: { 200: processDetail, ...problems },
      },
    },
    async (request) => {
      const { hostId, pid } = request.params;
      const { bootId, seq } = request.query;
      const at = { ...(bootId === undefined ? {} : { bootId }), ...(seq === undefined ? {} : { seq }) };
      const [view, why, vmas] = await Promise.all([
        seq === undefined ? backend.tree(hostId, at) : backend.stateAt(hostId, { ...at, seq }),
        backend.explain(hostId, pid, at),
        backend.vmas(hostId, pid, at),
      ]);
      return processDetailOf(view, pid, why, vmas);
    },
  );

  app.get(
    '/hosts/:hostId/processes/:pid/explain',
    {
      config: viewer,
      schema: {
        tags: ['hosts'],
        summary: "Why a process's memory is locked: each locked range and the chain of forks and execs back to the call that locked it",
        params: processParams,
        querystring: processQuery,
        response: { 200: explanation, ...problems },
      },
    },
    async (request) => {
      const { bootId, seq } = request.query;
      return backend.explain(request.params.hostId, request.params.pid, { ...(bootId === undefined ? {} : { bootId }), ...(seq === undefined ? {} : { seq }) });
    },
  );
};
