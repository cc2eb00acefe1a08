// Test helpers: a real nats-server per test suite (STYLE.md 15: a test that needs a server starts one).
export { checkNatsConfig, freePort, natsServerBinary, startNatsServer, type NatsServer, type StartNatsServerOptions } from './natsServer.js';
export { readStoredMessages, type StoredMessage } from './readStoredMessages.js';
export { startNatsCluster, type NatsCluster, type NatsClusterMember, type StartNatsClusterOptions } from './natsCluster.js';
