import { PAGE } from '@lockline/kernel';

/** "27 pages (108 KiB)"; a wrapped locked_vm (negative here) reads as the kernel shows it. */
export function pagesText(pages: number): string {
  if (pages < 0) return `${(2n ** 64n + BigInt(pages)).toString()} pages (wrapped below zero)`;
  if (pages === Number.POSITIVE_INFINITY) return 'unlimited';
  const bytes = pages * PAGE;
  const size = bytes >= 2 ** 30 ? `${(bytes / 2 ** 30).toFixed(1)} GiB` : bytes >= 2 ** 20 ? `${(bytes / 2 ** 20).toFixed(1)} MiB` : `${bytes / 1024} KiB`;
  return `${pages} page${pages === 1 ? '' : 's'} (${size})`;
}

export function limitText(bytes: number): string {
  if (bytes === Number.POSITIVE_INFINITY) return 'unlimited';
  return pagesText(Math.floor(bytes / PAGE)) + (bytes % PAGE ? ` (${bytes} bytes)` : '');
}
