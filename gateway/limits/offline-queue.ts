// `security.limits.offlineQueue`: how much one persistent MQTT session (clean session 0) may have queued for it while
// it is away. Without a bound an abandoned `#` session grows the broker state in the store without end.
import { type Static, Type } from '@sinclair/typebox';

export const OfflineQueueSchema = Type.Object(
  {
    maxMessages: Type.Integer({
      minimum: 1,
      default: 1000,
      description: 'Messages kept per session; when full the oldest is dropped.',
    }),
    maxBytes: Type.Integer({
      minimum: 1,
      default: 10485760,
      description:
        'Topic and payload bytes kept per session (10 MiB); when full the oldest are dropped, a single larger message is not queued.',
    }),
    maxAgeSec: Type.Integer({
      minimum: 1,
      default: 604800,
      description: 'A queued message older than this (7 days) is dropped instead of delivered.',
    }),
  },
  {
    additionalProperties: false,
    default: {},
    description: 'Bounds of each persistent session’s offline queue; every drop is counted by reason.',
  },
);

export type OfflineQueueLimits = Static<typeof OfflineQueueSchema>;

export const DEFAULT_OFFLINE_QUEUE: OfflineQueueLimits = { maxMessages: 1000, maxBytes: 10485760, maxAgeSec: 604800 };
