import type { ImageLayout } from '@lockline/kernel';

/**
 * The executables simulated hosts run, with sizes in pages close to a Debian 12 system's: what
 * exec lays out (text, data, bss, the argument pages, vDSO + vvar) and the dynamic loader
 * (ld-linux, ~40 pages) as the interpreter.
 */
export interface Program {
  /** The kernel's comm: the first 15 bytes of the file name. */
  readonly comm: string;
  readonly path: string;
  readonly image: ImageLayout;
}

function program(path: string, textPages: number, dataPages: number, bssPages: number, more: Partial<ImageLayout> = {}): Program {
  const name = path.slice(path.lastIndexOf('/') + 1);
  return {
    comm: name.slice(0, 15),
    path,
    image: { format: 'elf', argPages: 1, textPages, dataPages, bssPages, vdsoPages: 2, interpPages: 40, ...more },
  };
}

export const PROGRAMS = {
  init: program('/sbin/init', 340, 60, 4),
  journald: program('/lib/systemd/systemd-journald', 90, 8, 2),
  sshd: program('/usr/sbin/sshd', 220, 12, 4),
  bash: program('/bin/bash', 280, 12, 10),
  sh: program('/bin/sh', 28, 2, 2, { argPages: 2 }),
  // the lock prefix command of the seed's Documentation/vm/mlock.c
  mlock: program('/usr/local/bin/mlock', 4, 1, 1),
  make: program('/usr/bin/make', 62, 4, 6),
  cc: program('/usr/bin/cc', 240, 6, 2, { argPages: 2 }),
  cc1: program('/usr/lib/gcc/x86_64-linux-gnu/12/cc1', 6200, 70, 40, { argPages: 2 }),
  as: program('/usr/bin/as', 190, 6, 2),
  collect2: program('/usr/lib/gcc/x86_64-linux-gnu/12/collect2', 60, 2, 1),
  ld: program('/usr/bin/ld', 420, 12, 4, { argPages: 3 }),
  // a generated-source step: a shell script (binfmt_script) and an ancient a.out tool (the patch's B3)
  genScript: program('/usr/local/share/build/gen-version.sh', 28, 2, 2, { format: 'script' }),
  legacyM4: program('/opt/legacy/bin/m4', 40, 4, 2, { format: 'aout', interpPages: 0 }),
  runsv: program('/usr/bin/runsv', 8, 1, 1),
  rtDaemon: program('/usr/sbin/ptp4l', 70, 4, 24),
  postgres: program('/usr/lib/postgresql/15/bin/postgres', 2100, 60, 70),
  pgCtl: program('/usr/lib/postgresql/15/bin/pg_ctl', 24, 2, 1),
  gpgAgent: program('/usr/bin/gpg-agent', 120, 4, 2),
  pinentry: program('/usr/bin/pinentry-curses', 30, 2, 1),
  leaky: program('/opt/acme/bin/cache-warmer', 20, 2, 1),
  cron: program('/usr/sbin/cron', 16, 2, 1),
  date: program('/usr/bin/date', 26, 1, 1),
  sleep: program('/usr/bin/sleep', 8, 1, 1),
  ls: program('/usr/bin/ls', 34, 2, 2),
  grep: program('/usr/bin/grep', 60, 2, 2),
  find: program('/usr/bin/find', 80, 3, 2),
  gzip: program('/usr/bin/gzip', 24, 2, 60),
  logrotate: program('/usr/sbin/logrotate', 40, 2, 1),
  python3: program('/usr/bin/python3.11', 1100, 200, 30),
  // a buggy report generator that recurses too deep now and then (SIGSEGV on its stack limit)
  report: program('/usr/local/bin/report-gen', 44, 3, 2),
} as const satisfies Record<string, Program>;
