// @lockline/api: build(config, deps) for main.ts and the tests (fastify: app.inject), the config.
export { build, DEFAULT_PUBLIC_DIR, type ApiApp, type ApiDeps } from './app.js';
export { apiConfig, loadConfig, type ApiConfig } from './config.js';
export { ApiError, API_ERROR_CODES, type ApiErrorCode } from './errors.js';
export { parseTokens, ROLES, type ApiToken, type Role } from './tokens.js';
