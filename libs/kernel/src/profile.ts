import type { ProfileName } from './types.js';
import { PROFILES } from './types.js';

/**
 * What a profile switches. Everything that differs between the three kernels is read from here,
 * so a rule never tests a profile by name.
 */
export interface Profile {
  readonly name: ProfileName;
  /** 2.6.28 base semantics (no mlock2/ONFAULT, mlock without the 4.9 overlap fix, byte-wise mremap check…). */
  readonly base2008: boolean;
  /** The seed patch's quirks as written: B1 (mcl_inherit never dropped at fork), B2 (never cleared by mlockall/munlockall), B3 (ELF-only exec), B6 (locked_vm copied verbatim). */
  readonly asWritten: boolean;
  /** Pages setup_arg_pages()/stack_expand adds below the argument pages at exec. */
  readonly execExtraStackPages: number;
}

const table: Record<ProfileName, Profile> = {
  'linux-2008-patch': { name: 'linux-2008-patch', base2008: true, asWritten: true, execExtraStackPages: 20 },
  'linux-2008-patch-fixed': { name: 'linux-2008-patch-fixed', base2008: true, asWritten: false, execExtraStackPages: 20 },
  // 6.x setup_arg_pages: stack_expand = 128 KiB
  'linux-modern': { name: 'linux-modern', base2008: false, asWritten: false, execExtraStackPages: 32 },
};

export function profileOf(name: ProfileName): Profile {
  return table[name];
}

export function isProfileName(name: string): name is ProfileName {
  return (PROFILES as readonly string[]).includes(name);
}
