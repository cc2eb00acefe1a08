// @lockline/testkit: a running Lockline inside another project's tests (docs/testkit.md).
export { chooseBackend, startLockline, type Backend, type Lockline, type StartLocklineOptions } from './lockline.js';
export { LocklineApiError, LocklineClient, type Finding, type FindingsQuery, type HostStateView } from './client.js';
export { DEFAULT_IMAGES, buildLocalImages, containersAvailable, type ContainerImages } from './containerLauncher.js';
export { publishScenario, type DrivenHost } from './scenario.js';
export { ServiceProcess, killAllServices } from './serviceProcess.js';
export { sleep, waitFor } from './wait.js';
