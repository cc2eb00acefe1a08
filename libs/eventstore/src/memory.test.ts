import { MemoryEventLog, openMemoryEventStore } from './memory.js';
import { eventStoreContract } from './testing/contract.js';

let log = new MemoryEventLog();

eventStoreContract('memory', {
  open: () => openMemoryEventStore({ log: (log = new MemoryEventLog()) }),
  reopen: () => openMemoryEventStore({ log }),
});
