import { mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { ResumeState, ResumeStateError, STATE_FILE } from './resumeState.js';

const dirs: string[] = [];
afterEach(async () => {
  for (const dir of dirs.splice(0)) await rm(dir, { recursive: true, force: true });
});
async function tempDir(): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), 'lockline-resume-'));
  dirs.push(dir);
  return dir;
}

const SIM = { seed: '1', profile: 'linux-2008-patch', faults: {} };

describe('ResumeState', () => {
  it('is empty without a file, and creates its folder', async () => {
    const dir = join(await tempDir(), 'a', 'b');
    expect(await new ResumeState(dir, SIM).load()).toEqual(new Map());
    expect(await readdir(dir)).toEqual([]);
  });

  it('saves atomically and loads what it saved', async () => {
    const dir = await tempDir();
    const state = new ResumeState(dir, SIM);
    await state.load();
    const positions = new Map([
      ['h-1', { bootId: 'b1', lastAckedSeq: 10, recordsAcked: 10 }],
      ['h-2', { bootId: 'b2', lastAckedSeq: 3, recordsAcked: 12 }],
    ]);
    await Promise.all([state.save(new Map([['h-1', { bootId: 'b1', lastAckedSeq: 5, recordsAcked: 5 }]])), state.save(positions)]);
    expect(await readdir(dir)).toEqual([STATE_FILE]); // no temporary file left
    expect(await new ResumeState(dir, SIM).load()).toEqual(positions);
  });

  it("keeps the entries of hosts this run does not simulate", async () => {
    const dir = await tempDir();
    const first = new ResumeState(dir, SIM);
    await first.load();
    await first.save(new Map([['h-1', { bootId: 'b1', lastAckedSeq: 1, recordsAcked: 1 }], ['h-9', { bootId: 'b9', lastAckedSeq: 9, recordsAcked: 9 }]]));
    const second = new ResumeState(dir, SIM);
    await second.load();
    await second.save(new Map([['h-1', { bootId: 'b1', lastAckedSeq: 2, recordsAcked: 2 }]]));
    expect(await new ResumeState(dir, SIM).load()).toEqual(new Map([['h-1', { bootId: 'b1', lastAckedSeq: 2, recordsAcked: 2 }], ['h-9', { bootId: 'b9', lastAckedSeq: 9, recordsAcked: 9 }]]));
  });

  it('refuses a state written for another simulation; the same faults spelled otherwise are the same', async () => {
    const dir = await tempDir();
    const state = new ResumeState(dir, { ...SIM, faults: { drop: 0.01 } });
    await state.load();
    await state.save(new Map([['h-1', { bootId: 'b1', lastAckedSeq: 1, recordsAcked: 1 }]]));
    await expect(new ResumeState(dir, { ...SIM, faults: { drop: 0.01, reboot: 0 } }).load()).resolves.toHaveProperty('size', 1);
    await expect(new ResumeState(dir, { ...SIM, faults: {} }).load()).rejects.toThrow(/written for seed "1", profile linux-2008-patch, faults drop=0.01, but this run simulates seed "1", profile linux-2008-patch, faults none/);
    await expect(new ResumeState(dir, { ...SIM, seed: '2', faults: { drop: 0.01 } }).load()).rejects.toThrow(ResumeStateError);
  });

  it('says what is wrong with a file it cannot use', async () => {
    const dir = await tempDir();
    await writeFile(join(dir, STATE_FILE), '{"version":1,"hosts":');
    await expect(new ResumeState(dir, SIM).load()).rejects.toThrow(/not a host-sim state file .*move it away to start over/);
  });

  it('writes readable JSON with what it is for', async () => {
    const dir = await tempDir();
    const state = new ResumeState(dir, SIM);
    await state.save(new Map([['h-1', { bootId: 'b1', lastAckedSeq: 4, recordsAcked: 4 }]]));
    const saved = JSON.parse(await readFile(join(dir, STATE_FILE), 'utf8')) as Record<string, unknown>;
    expect(saved).toMatchObject({ version: 1, simulation: { seed: '1', profile: 'linux-2008-patch', faults: { drop: 0, reboot: 0 } }, hosts: { 'h-1': { lastAckedSeq: 4 } } });
  });
});
