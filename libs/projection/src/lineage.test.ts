import { describe, expect, it } from 'vitest';
import { childRecord, cloneLineage, execsOf, recordExec, tableRecord } from './lineage.js';

describe('lineage records', () => {
  it('keep a single exec with a comm as its bare seq, and a list from the second exec (or one without a comm)', () => {
    const parent = tableRecord(1, 'bash');
    const r = childRecord(parent, 10, 5, 'fork');
    expect(execsOf(r)).toEqual([]);
    recordExec(r, 7, 'make');
    expect(r.execs).toBe(7);
    expect(r.comm).toBe('make');
    expect(execsOf(r)).toEqual([{ seq: 7, comm: 'make' }]);
    recordExec(r, 9, 'cc');
    expect(execsOf(r)).toEqual([{ seq: 7, comm: 'make' }, { seq: 9, comm: 'cc' }]);
    recordExec(r, 12, undefined);
    expect(execsOf(r)).toEqual([{ seq: 7, comm: 'make' }, { seq: 9, comm: 'cc' }, { seq: 12 }]);
    expect(r.comm).toBe('cc');

    const quiet = childRecord(parent, 11, 6, 'vfork');
    recordExec(quiet, 8, undefined);
    expect(execsOf(quiet)).toEqual([{ seq: 8 }]);
    expect(quiet.comm).toBe('bash');
  });

  it('copies share nothing with the original', () => {
    const parent = tableRecord(1, 'init');
    const a = childRecord(parent, 2, 3, 'fork');
    const b = childRecord(parent, 3, 4, 'fork');
    recordExec(a, 5, 'sshd');
    recordExec(b, 6, 'cron');
    recordExec(b, 7, 'sh');
    const copy = cloneLineage(new Map([[2, a], [3, b]]));
    recordExec(copy.get(2)!, 8, 'bash');
    recordExec(copy.get(3)!, 9, 'date');
    expect(execsOf(a)).toEqual([{ seq: 5, comm: 'sshd' }]);
    expect(execsOf(b).map((e) => e.seq)).toEqual([6, 7]);
    expect(copy.get(2)!.parent).toBe(copy.get(3)!.parent);
    expect(copy.get(2)!.parent).not.toBe(parent);
  });
});
