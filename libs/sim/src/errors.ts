/** A bad option given to the simulator (a host, a fleet, a workload mix): the option and what is wrong. */
export class InvalidSimOptionError extends Error {
  readonly code = 'INVALID_SIM_OPTION';
  constructor(
    readonly option: string,
    readonly reason: string,
  ) {
    super(`${option}: ${reason}`);
    this.name = 'InvalidSimOptionError';
  }
}

/** A fault specification (`--faults drop=0.01,reboot`) that cannot be used, naming the bad item. */
export class InvalidFaultSpecError extends Error {
  readonly code = 'INVALID_FAULT_SPEC';
  constructor(
    readonly item: string,
    readonly reason: string,
  ) {
    super(item === '' ? reason : `fault ${JSON.stringify(item)}: ${reason}`);
    this.name = 'InvalidFaultSpecError';
  }
}
