/**
 * A user's credentials as nats.js connect options: `connect({ servers, ...natsAuthOptions(cred) })`.
 * The inbox prefix matters: each user may subscribe only to `_INBOX_<user>.>`, so without it a
 * client would get no JetStream acks or replies.
 */
export function natsAuthOptions(credential: { user: string; password: string; inboxPrefix: string }): { user: string; pass: string; inboxPrefix: string } {
  return { user: credential.user, pass: credential.password, inboxPrefix: credential.inboxPrefix };
}
